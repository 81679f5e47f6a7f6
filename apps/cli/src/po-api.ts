#!/usr/bin/env node
// `po-api`: the service in api mode (`po start --mode api`), configured by config/app.yaml and the environment.
import { runServiceBin } from './service/index.ts';

process.exitCode = await runServiceBin('api');
