#!/usr/bin/env node
// `po-runner`: the service in continuous mode (`po start --mode continuous`), configured by config/app.yaml and the environment.
import { runServiceBin } from './service/index.ts';

const code = await runServiceBin('continuous');
process.exitCode = code;
// A failure must end the process even when something it opened (a worker, a timer, a socket) is still open.
if (code !== 0) setTimeout(() => process.exit(code), 1000).unref();
