#!/usr/bin/env node
import { SettingsError } from '@po/settings';
import { pino } from 'pino';
import { readServerSettings, startServer } from './server.ts';

const logger = pino({ name: 'po-api' });
try {
  const running = await startServer(readServerSettings(), logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'stopping');
      running.close().then(() => process.exit(0));
    });
  }
} catch (e) {
  if (e instanceof SettingsError) logger.error(e.message);
  else logger.error({ err: e }, 'cannot start');
  process.exitCode = 1;
}
