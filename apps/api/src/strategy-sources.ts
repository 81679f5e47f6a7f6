/** Where a request's strategy comes from: the deployed one, or one sent in the request. */
import { createHash } from 'node:crypto';
import type { ModelFileReader, SourceStatus } from '@po/core';
import { LRUCache } from 'lru-cache';
import { httpError, toApiError } from './errors.ts';
import { bundleFromFiles, type CycleExecutor, type StrategyBundle } from './pool/index.ts';
import type { RunnableStrategy, StrategySource } from './types.ts';

/** A strategy in a request: YAML text, or the same structure as a JSON object. */
export type StrategyInput = string | Record<string, unknown>;

/** The deployed strategy and its version. */
export type Deployed = { version: string | null; strategy: RunnableStrategy };

/**
 * The deployed strategy, or a 503 that says why there is none: still loading, failed to load
 * (an invalid strategy or a missing model is the server's problem here, not the request's), or
 * nothing deployed.
 */
export function deployedStrategy(strategies: StrategySource): () => Promise<Deployed> {
  return async () => {
    let current: Deployed | undefined;
    try {
      current = await strategies.current();
    } catch (e) {
      throw toApiError(e, 'deployed') ?? httpError.strategyUnavailable(e);
    }
    if (!current) {
      const status = strategies.status();
      // Nothing deployed: the request must bring its strategy (400). Loading or broken: ours (503).
      throw status.state === 'none'
        ? httpError.noStrategy(whyNone(status))
        : httpError.strategyLoading(whyNone(status));
    }
    return current;
  };
}

function whyNone(status: SourceStatus): string {
  if (status.state === 'loading') return 'the deployed strategy is still loading; retry in a few seconds';
  if (status.state === 'error') {
    return `the deployed strategy cannot be loaded: ${status.error ?? 'unknown error'}`;
  }
  return 'no strategy is deployed; deploy one (po deploy) or send one in `config`';
}

/** Distinct strategies from requests kept (files read once), each for at most a minute. */
const REQUEST_BUNDLES = { max: 16, ttl: 60_000 };

/** The bundle of a strategy sent in a request; `signal` is the request's deadline. */
export type RequestBundle = (config: StrategyInput, signal?: AbortSignal) => Promise<StrategyBundle>;

/**
 * Bundles of strategies sent in requests, by content: a client that sends the same strategy with
 * every request has its files read once, and each worker compiles it once (the pool keys compiled
 * strategies by bundle). The text is parsed in the pool (a `files` task), never on this thread.
 */
export function requestBundles(
  readModelFile: ModelFileReader | undefined,
  executor: CycleExecutor,
): RequestBundle {
  const bundles = new LRUCache<string, Promise<StrategyBundle>>(REQUEST_BUNDLES);
  const build = async (text: string, signal: AbortSignal | undefined) => {
    if (!readModelFile) return bundleFromFiles(text, undefined);
    const paths = await executor.run({ kind: 'files', text }, signal ? { signal } : {});
    return bundleFromFiles(text, readModelFile, { paths });
  };
  return (config, signal) => {
    const text = typeof config === 'string' ? config : JSON.stringify(config);
    const hash = createHash('sha256').update(text).digest('hex');
    const hit = bundles.get(hash);
    if (hit) return hit;
    const bundle = build(text, signal);
    bundles.set(hash, bundle);
    bundle.catch(() => {
      if (bundles.peek(hash) === bundle) bundles.delete(hash);
    });
    return bundle;
  };
}
