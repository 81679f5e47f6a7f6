import { isPoError } from '@po/core';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { createLogger } from '../logger.ts';
import { runService } from '../service/index.ts';
import { readSettings, type StoreFlags } from './context.ts';

interface StartFlags extends StoreFlags {
  mode?: string;
  host?: string;
  port?: string;
  debug?: boolean;
}

/**
 * `po start`: the service (`startService`, the composition root). hybrid runs the HTTP API and
 * the continuous runner in one process (cycles of both run in one worker pool, off the event
 * loop); api and continuous run one. SIGINT/SIGTERM stop it gracefully.
 */
export function registerStartCommand(program: Command, output: Output): void {
  program
    .command('start')
    .description('run the service: the HTTP API and/or the continuous optimization loop')
    .option(
      '--mode <mode>',
      'hybrid (API + runner), api, continuous (runner only), or worker (fleet cycles, needs DATABASE_URL)',
    )
    .option('--host <host>', 'address to listen on (PO_HOST)')
    .option('--port <port>', 'port to listen on (PO_PORT, default 5000; 0 picks a free one)')
    .option('--debug', 'debug logging')
    .option('--store <kind>', 'local or s3 (PO_STORE)')
    .option('--store-dir <dir>', 'folder of the local store (PO_LOCAL_STORE_DIR)')
    .option('--metadata-dir <dir>', 'folder of deployed_config_version.yaml (PO_METADATA_DIR)')
    .option('--settings <file>', 'settings file (default config/app.yaml)')
    .action(async (flags: StartFlags) => {
      const warnings: string[] = [];
      const settings = readSettings(
        flags,
        {
          mode: flags.mode,
          'api.host': flags.host,
          'api.port': flags.port,
          'log.level': flags.debug ? 'debug' : undefined,
        },
        (warning) => warnings.push(warning),
      );
      const logger = createLogger(settings, output.isTTY);
      for (const warning of warnings) logger.warn({}, `[po/settings] ${warning}`);
      try {
        await runService(settings, logger);
      } catch (e) {
        // po's own errors name the problem in one line; anything else gets its stack only with --debug.
        if (flags.debug || isPoError(e) || e instanceof CliError) throw e;
        throw new CliError(`[po] start failed (run with --debug for the stack): ${oneLine(e)}`, 70);
      }
    });
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split('\n')[0] ?? text;
}
