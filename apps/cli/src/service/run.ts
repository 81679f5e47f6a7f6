import { describeError, errorCode } from '@po/core';
import { describeSettings, loadSettings, type Settings } from '@po/settings';
import { exitCodeOf } from '../errors.ts';
import { processOutput } from '../io.ts';
import { createLogger, type ServiceLogger } from '../logger.ts';
import { type Service, type ServiceMode, STOP_TIMEOUT_MS, startService } from './start-service.ts';

/**
 * Runs the service until SIGINT or SIGTERM, then stops it gracefully (the cycle in progress
 * finishes and is recorded) and resolves. Rejects when it cannot start.
 */
export async function runService(
  settings: Settings,
  logger: ServiceLogger,
  mode?: ServiceMode,
): Promise<void> {
  logger.info({ settings: describeSettings(settings) }, '[po] starting');
  const service = await startService(settings, { logger, ...(mode ? { mode } : {}) });
  await untilSignal(service, logger);
}

function untilSignal(service: Service, logger: ServiceLogger): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, '[po] stopping: no new work; the cycle in progress finishes');
      const force = setTimeout(() => {
        logger.error('[po] could not stop in time; exiting');
        process.exit(1);
      }, STOP_TIMEOUT_MS + 10_000);
      force.unref();
      service.stop().then(
        () => {
          logger.info('[po] stopped');
          resolve();
        },
        (e: unknown) => {
          logger.error({ err: e }, '[po] error while stopping');
          resolve();
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/**
 * The `po-api` and `po-runner` programs: the service in one mode, configured by config/app.yaml
 * and the environment only. A wrong setting is printed to stderr; a failure to start is the
 * log's fatal line (with the error's `code`). Returns the exit code.
 */
export async function runServiceBin(mode: 'api' | 'continuous'): Promise<number> {
  const warnings: string[] = [];
  let settings: Settings;
  try {
    settings = loadSettings({ overrides: { mode }, onWarning: (w) => warnings.push(w) });
  } catch (e) {
    processOutput.err(describeError(e));
    return exitCodeOf(e);
  }
  const logger = createLogger(settings, processOutput.isTTY);
  for (const warning of warnings) logger.warn({}, `[po/settings] ${warning}`);
  try {
    await runService(settings, logger);
    return 0;
  } catch (e) {
    logger.fatal({ code: errorCode(e), err: e }, describeError(e));
    return exitCodeOf(e);
  }
}
