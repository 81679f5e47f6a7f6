/**
 * Test helpers: a store wrapper that counts calls and bytes and can be taken offline, and a
 * fake clock. Stores under test are real ones (local folder, s3rver); the wrapper only watches.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NotModified, ObjectStore, StoredObject } from '@po/storage';

export interface WatchedStore extends ObjectStore {
  calls: { get: number; getIfChanged: number; notModified: number; put: number };
  /** Body bytes transferred by get and getIfChanged. */
  bytesTransferred: number;
  /** While true every call rejects like an unreachable store. */
  offline: boolean;
  /** Optional delay (ms) before each read reaches the inner store. */
  delayMs: number;
  close(): Promise<void>;
}

export function watch(inner: ObjectStore): WatchedStore {
  const unreachable = (key: string) =>
    Object.assign(
      new Error(`[po/storage] [${inner.kind}] ${inner.location} is unreachable (asked for ${key})`),
      {
        code: 'UNREACHABLE',
      },
    );
  const gate = async (key: string) => {
    if (watched.delayMs > 0) await new Promise((r) => setTimeout(r, watched.delayMs));
    if (watched.offline) throw unreachable(key);
  };
  const watched: WatchedStore = {
    kind: inner.kind,
    location: inner.location,
    calls: { get: 0, getIfChanged: 0, notModified: 0, put: 0 },
    bytesTransferred: 0,
    offline: false,
    delayMs: 0,
    async get(key): Promise<StoredObject> {
      watched.calls.get += 1;
      await gate(key);
      const object = await inner.get(key);
      watched.bytesTransferred += object.body.byteLength;
      return object;
    },
    async getIfChanged(key, etag): Promise<StoredObject | NotModified> {
      watched.calls.getIfChanged += 1;
      await gate(key);
      const answer = await inner.getIfChanged(key, etag);
      if (answer.notModified) watched.calls.notModified += 1;
      else watched.bytesTransferred += answer.body.byteLength;
      return answer;
    },
    stat: (key) => inner.stat(key),
    async put(key, body, options) {
      watched.calls.put += 1;
      if (watched.offline) throw unreachable(key);
      return inner.put(key, body, options);
    },
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    close: async () => inner.close?.(),
  };
  return watched;
}

export interface FakeClock {
  (): number;
  advance(ms: number): void;
}

/** A clock in epoch ms that moves only when told. */
export function fakeClock(start = Date.UTC(2024, 5, 4, 21, 33, 53)): FakeClock {
  let t = start;
  const clock = (() => t) as FakeClock;
  clock.advance = (ms: number) => {
    t += ms;
  };
  return clock;
}

export const bytes = (text: string) => new TextEncoder().encode(text);
export const text = (body: Uint8Array) => new TextDecoder().decode(body);

/** The demo strategy folder of the repository (strategy.yaml + models/**). */
export const DEMO_DIR = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

/** Uploads the demo strategy as `configs/config-<version>.yaml` and its models under `models/`. */
export async function uploadDemo(store: ObjectStore, version: string): Promise<string[]> {
  const keys = [`configs/config-${version}.yaml`];
  await store.put(keys[0]!, await readFile(join(DEMO_DIR, 'strategy.yaml')));
  const models = join(DEMO_DIR, 'models');
  for (const entry of await readdir(models, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const key = `models/${relative(models, file).split(sep).join('/')}`;
    await store.put(key, new Uint8Array(await readFile(file)));
    keys.push(key);
  }
  return keys;
}
