import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder under the system's temp folder, and its removal. */
export async function tempDir(prefix = 'po-test'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${prefix.replaceAll('_', '-')}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
