#!/usr/bin/env node
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A failure must end the process even when something it opened (a worker, a timer, a socket) is still open.
if (code !== 0) setTimeout(() => process.exit(code), 1000).unref();
