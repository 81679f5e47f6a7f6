#!/usr/bin/env node
// `po-runner`: the service in continuous mode (`po start --mode continuous`), configured by config/app.yaml and the environment.
import { runServiceBin } from './service/index.ts';

process.exitCode = await runServiceBin('continuous');
