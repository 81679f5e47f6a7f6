/** How loading the deployed strategy goes, as `/health` reports it. */
export interface SourceStatus {
  /** `loaded`: a strategy is ready; `loading`: the first one is being fetched or compiled; `none`: nothing deployed; `error`: the last load failed. */
  state: 'loaded' | 'loading' | 'none' | 'error';
  /** The deployed version, when known. */
  version: string | null;
  /** Where strategies come from (`local:/srv/po/store`, `s3://bucket`, `file:/srv/kiln.yaml`); no secrets. */
  source?: string;
  /** ISO time the current strategy was loaded. */
  loadedAt?: string;
  /** The last load error (message only). With `state: 'loaded'` the previous strategy is still served. */
  error?: string;
}

/**
 * Where the deployed strategy comes from (a store's deploy pointer, a strategy file), as the HTTP
 * API and the runner read it. `Strategy` is what they run: the engine's compiled strategy, or a
 * worker-pool proxy of it.
 *
 * - `current()` is called for every request and before every cycle, so it must be cheap once
 *   loaded (a source reloads in the background). It returns the same object while the version is
 *   unchanged, undefined while nothing is deployed (the API answers 503, the runner waits), and
 *   rejects only when loading failed with nothing to fall back on.
 * - `status()` answers synchronously and fast: `/health` calls it.
 */
export interface StrategySource<Strategy> {
  current(): Promise<{ version: string | null; strategy: Strategy } | undefined>;
  status(): SourceStatus;
}
