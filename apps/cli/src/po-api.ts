#!/usr/bin/env node
// `po-api`: the service in api mode (`po start --mode api`), configured by config/app.yaml and the environment.
import { runServiceBin } from './service/index.ts';

const code = await runServiceBin('api');
process.exitCode = code;
// A failure must end the process even when something it opened (a worker, a timer, a socket) is still open.
if (code !== 0) setTimeout(() => process.exit(code), 1000).unref();
