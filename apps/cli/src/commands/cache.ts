import { createArtifactCache } from '@po/cache';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { localDeployment, openStore, readSettings, type StoreFlags } from './context.ts';
import { withStoreFlags } from './store.ts';

interface CacheFlags extends StoreFlags {
  stats?: boolean;
  test?: boolean;
  cleanup?: boolean;
  clear?: boolean;
  all?: boolean;
  url?: string;
  json?: boolean;
}

/** Calls the running service (where the cache lives), with the API token when one is set. */
async function callService(
  service: { url: string; token: string | undefined },
  method: 'GET' | 'POST',
  path: string,
): Promise<unknown> {
  const { url, token } = service;
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(5000),
    });
  } catch (e) {
    throw new CliError(
      `[po] cannot reach the po service at ${url} (${(e as Error).message}); is \`po start\` running?`,
    );
  }
  const body = await response.text();
  if (!response.ok) {
    const hint = response.status === 401 ? ' (set PO_API_TOKEN to the service token)' : '';
    throw new CliError(`[po] ${method} ${path} answered ${response.status}${hint}: ${body.slice(0, 500)}`);
  }
  return JSON.parse(body);
}

export function registerCacheCommands(program: Command, output: Output): void {
  withStoreFlags(
    program
      .command('cache')
      .description(
        'the service cache: --stats and --clear ask the running service; --test loads the deployed strategy cold and warm here',
      )
      .option('--stats', "the running service's cache statistics")
      .option('--test', 'load the deployed strategy twice in this process and print cold vs. warm timings')
      .option('--cleanup', 'drop expired entries in the running service')
      .option('--clear', "clear the running service's cache")
      .option('--all', '--test, then --stats and --cleanup')
      .option('--url <url>', 'the service (default http://<api.host>:<api.port> from the settings)')
      .option('--json', 'print JSON'),
  ).action(async (opts: CacheFlags) => {
    const settings = readSettings(opts);
    const service = {
      url: opts.url ?? `http://${settings.api.host}:${settings.api.port}`,
      token: settings.api.token,
    };
    if (!opts.stats && !opts.test && !opts.cleanup && !opts.clear && !opts.all) {
      throw new CliError('[po] po cache needs one of --stats, --test, --cleanup, --clear, --all', 2);
    }
    const report: Record<string, unknown> = {};
    if (opts.test || opts.all) {
      const store = await openStore(settings);
      try {
        const cache = createArtifactCache({ store });
        const cold = localDeployment(store, settings, cache);
        let t = performance.now();
        const first = await cold.refresh();
        const coldMs = performance.now() - t;
        const warm = localDeployment(store, settings, cache);
        t = performance.now();
        await warm.refresh();
        const warmMs = performance.now() - t;
        await Promise.all([cold.close(), warm.close()]);
        report.test = {
          version: first.version,
          cold_ms: coldMs,
          warm_ms: warmMs,
          speedup: coldMs / warmMs,
          cache: cache.stats().totals,
        };
        if (!opts.json) {
          output.out(
            `strategy ${first.version}: cold load ${coldMs.toFixed(1)} ms (download + compile), warm ${warmMs.toFixed(1)} ms (from the cache + compile), ${(coldMs / warmMs).toFixed(1)}x`,
          );
        }
      } finally {
        await store.close?.();
      }
    }
    if (opts.stats || opts.all) {
      report.stats = await callService(service, 'GET', '/cache/stats');
      if (!opts.json) output.out(JSON.stringify(report.stats, null, 2));
    }
    if (opts.cleanup || opts.all) {
      report.cleanup = await callService(service, 'POST', '/cache/cleanup');
      if (!opts.json) output.out((report.cleanup as { message?: string }).message ?? 'cleaned up');
    }
    if (opts.clear) {
      report.clear = await callService(service, 'POST', '/cache/clear');
      if (!opts.json) output.out((report.clear as { message?: string }).message ?? 'cleared');
    }
    if (opts.json) output.out(JSON.stringify(report, null, 2));
  });
}
