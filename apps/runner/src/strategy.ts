import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import type { RunnableStrategy, StrategySource } from './types.ts';

/** A strategy that never changes (tests, or a strategy compiled by the caller). */
export function staticStrategySource(
  strategy: RunnableStrategy,
  version: string | null = null,
): StrategySource {
  return { current: async () => ({ version, strategy }) };
}

export interface LocalStrategyOptions {
  /** The strategy YAML (`PO_STRATEGY`). */
  file: string;
  /** The folder the strategy's model paths are relative to (`PO_MODELS_DIR`). Default: the file's folder. */
  modelsDir?: string | undefined;
}

/**
 * A strategy file on disk, for running the runner alone. Recompiled when the file changes
 * (checked before each cycle); its version is the file's `version` key or `sha256:<12 hex>`
 * of its text. A file that stops compiling rejects (the runner keeps the previous one).
 */
export function localStrategySource(options: LocalStrategyOptions): StrategySource {
  const file = resolve(options.file);
  const modelsDir = resolve(options.modelsDir ?? dirname(file));
  let loaded: { mtimeMs: number; version: string | null; strategy: CompiledStrategy } | undefined;
  return {
    async current() {
      const { mtimeMs } = await stat(file);
      if (loaded?.mtimeMs === mtimeMs) return loaded;
      const text = await readFile(file, 'utf8');
      const strategy = await compileStrategy(text, {
        modelProvider: createModelProvider({ readFile: localModelFiles(modelsDir) }),
        source: file,
      });
      const version =
        strategy.version ?? `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
      const previous = loaded;
      loaded = { mtimeMs, version, strategy };
      // The runner asks before each cycle, one cycle at a time, so the old one is idle now.
      await previous?.strategy.dispose();
      return loaded;
    },
  };
}
