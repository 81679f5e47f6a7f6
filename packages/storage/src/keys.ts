import { StoreError } from './errors.ts';

/** Longest key, in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024;
/**
 * Longest segment of a key, in UTF-8 bytes: file systems allow 255, and the local store
 * needs room for its `.po-meta.` sidecar prefix.
 */
export const MAX_SEGMENT_BYTES = 240;
/** Segments starting with this are reserved for the local store's temp and sidecar files. */
export const RESERVED_SEGMENT_PREFIX = '.po-';

const KEY_FIX = "Use a relative key of '/'-separated names, e.g. 'models/saved_models/x.onnx'.";
const encoder = new TextEncoder();

function invalid(store: string, key: string, problem: string): StoreError {
  return new StoreError('INVALID_KEY', store, `Invalid key ${JSON.stringify(key)}: ${problem}. ${KEY_FIX}`, {
    key,
  });
}

function checkCharacters(key: string, store: string): void {
  if (key.includes('\0')) throw invalid(store, key, 'it contains a NUL character');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0001-\u001f\u007f]/.test(key)) throw invalid(store, key, 'it contains a control character');
  if (key.includes('\\')) throw invalid(store, key, 'it contains a backslash; use forward slashes');
  if (key.startsWith('/')) throw invalid(store, key, 'absolute keys are refused');
  if (/^[A-Za-z]:/.test(key)) throw invalid(store, key, 'drive letters are refused');
  if (encoder.encode(key).length > MAX_KEY_BYTES) {
    throw invalid(store, key, `it is longer than ${MAX_KEY_BYTES} bytes`);
  }
}

function checkSegment(segment: string, key: string, store: string): void {
  if (segment === '')
    throw invalid(store, key, 'it has an empty segment (leading, trailing or double slash)');
  if (segment === '.' || segment === '..') throw invalid(store, key, `'${segment}' segments are refused`);
  if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) {
    throw invalid(store, key, `names starting with '${RESERVED_SEGMENT_PREFIX}' are reserved for po`);
  }
  if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {
    throw invalid(store, key, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
}

/**
 * The one place keys are checked. Refuses (StoreError INVALID_KEY, naming the key) empty
 * keys, NUL and control characters, backslashes, absolute paths and drive letters, empty,
 * `.` and `..` segments (so leading/trailing/double slashes), reserved `.po-` names, and keys
 * over 1024 bytes or with a segment over 240 bytes. A valid key cannot leave the bucket
 * folder. Returns the key unchanged.
 */
export function validateKey(key: string, store = 'keys'): string {
  if (typeof key !== 'string' || key === '') throw invalid(store, String(key), 'it is empty');
  checkCharacters(key, store);
  for (const segment of key.split('/')) checkSegment(segment, key, store);
  return key;
}

/**
 * Checks a `list` prefix: `''`, a folder (`models/`), or a folder and the start of a name
 * (`configs/config-`). The folder part follows `validateKey`; the partial name may not be
 * `.` or `..`.
 */
export function validatePrefix(prefix: string, store = 'keys'): string {
  if (typeof prefix !== 'string') throw invalid(store, String(prefix), 'the prefix is not a string');
  if (prefix === '') return prefix;
  checkCharacters(prefix, store);
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  for (const segment of segments) checkSegment(segment, prefix, store);
  if (last === '.' || last === '..') throw invalid(store, prefix, `'${last}' segments are refused`);
  if (last.startsWith(RESERVED_SEGMENT_PREFIX)) {
    throw invalid(store, prefix, `names starting with '${RESERVED_SEGMENT_PREFIX}' are reserved for po`);
  }
  return prefix;
}

/** Prefix of model, scaler and metadata files in the bucket. */
export const MODELS_PREFIX = 'models/';

/**
 * The key of a model, scaler or metadata file named by a strategy, by the predecessor's
 * rule: leading `../` segments are dropped, then `models/` is prepended, then the key is
 * validated. `../../etc/passwd` becomes `models/etc/passwd`; `saved_models/../../x` (a `..`
 * that is not leading) is refused with INVALID_KEY.
 */
export function modelKey(path: string): string {
  let rest = path;
  while (rest.startsWith('../')) rest = rest.slice(3);
  return validateKey(`${MODELS_PREFIX}${rest}`);
}
