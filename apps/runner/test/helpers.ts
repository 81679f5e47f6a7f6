import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDatabase } from '@po/db';
import { createModelProvider, localModelFiles } from '@po/models';
import { type CompiledStrategy, compileStrategy } from '@po/rto-engine';
import { testDatabases } from '@po/test-kit';

export const DEMO_DIR = join(import.meta.dirname, '../../../config/demo');

/** The demo strategy with its models, compiled through the real engine. */
export async function compileDemoStrategy(): Promise<CompiledStrategy> {
  return compileStrategy(await readFile(join(DEMO_DIR, 'strategy.yaml'), 'utf8'), {
    modelProvider: createModelProvider({ readFile: localModelFiles(join(DEMO_DIR, 'models')) }),
    version: '1.0.0',
  });
}

/** A plausible demo plant reading (config/demo/example-state.json). */
export async function exampleState(): Promise<Record<string, number>> {
  return JSON.parse(await readFile(join(DEMO_DIR, 'example-state.json'), 'utf8'));
}

/** Both backends: PostgreSQL (a schema per test file) and PGlite (a folder per test file). */
export const backends = testDatabases(openDatabase, { prefix: 'po_runner' });
