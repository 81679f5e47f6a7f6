import type { Logger } from '@po/core';
import * as ort from 'onnxruntime-node';

/**
 * Session options po uses for every surrogate: tiny nets, one thread, full graph
 * optimization. A fresh object per session: onnxruntime-node wraps the options in a
 * proxy that fails on frozen objects.
 */
export function sessionOptions(): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  };
}

/** What po reads from a session: one float32 input [batch, n], one output [batch, 1]. */
export interface OnnxSignature {
  inputName: string;
  outputName: string;
  /** The input's shape as the model declares it (numbers static, strings symbolic). */
  inputShape: readonly (number | string)[] | undefined;
  outputShape: readonly (number | string)[] | undefined;
  inputType: string | undefined;
  outputType: string | undefined;
}

/**
 * Wraps every call into ONNX Runtime's native code on this thread (see `guardOnnxRuntimeCalls`).
 * It runs `call` and answers its result, or rejects without calling it.
 */
export type OnnxRuntimeCallGuard = <T>(call: () => Promise<T>) => Promise<T>;

const unguarded: OnnxRuntimeCallGuard = (call) => call();
let guard: OnnxRuntimeCallGuard = unguarded;

/**
 * Routes every ONNX Runtime call made on this thread (session create, run, release) through
 * `callGuard`; `undefined` removes it. A worker thread that may be terminated needs this:
 * terminating a thread while ONNX Runtime is inside a native call aborts the whole process
 * (`terminate called after throwing an instance of 'Napi::Error'`), so the thread's owner
 * must only terminate it between calls.
 */
export function guardOnnxRuntimeCalls(callGuard: OnnxRuntimeCallGuard | undefined): void {
  guard = callGuard ?? unguarded;
}

/** Opens an ONNX Runtime session from the bytes of a `.onnx` file. */
export function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return guard(() => ort.InferenceSession.create(bytes, sessionOptions()));
}

/** Runs a session on one set of feeds. */
export function runSession(
  session: ort.InferenceSession,
  feeds: ort.InferenceSession.FeedsType,
): Promise<ort.InferenceSession.ReturnType> {
  return guard(() => session.run(feeds));
}

/** Releases a session's native memory. */
export function releaseSession(session: ort.InferenceSession): Promise<void> {
  return guard(() => session.release());
}

/**
 * Reads the signature of a session. Returns a problem sentence instead when the model
 * does not have exactly one input and one output.
 */
export function readSignature(session: ort.InferenceSession): OnnxSignature | string {
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
    return (
      `the network has ${session.inputNames.length} input(s) [${session.inputNames.join(', ')}] and ` +
      `${session.outputNames.length} output(s) [${session.outputNames.join(', ')}]; po expects exactly one ` +
      'float32 input [batch, inputs] and one float32 output [batch, 1]'
    );
  }
  const inputMeta = session.inputMetadata?.[0];
  const outputMeta = session.outputMetadata?.[0];
  return {
    inputName: session.inputNames[0]!,
    outputName: session.outputNames[0]!,
    inputShape: inputMeta?.isTensor ? inputMeta.shape : undefined,
    outputShape: outputMeta?.isTensor ? outputMeta.shape : undefined,
    inputType: inputMeta?.isTensor ? inputMeta.type : undefined,
    outputType: outputMeta?.isTensor ? outputMeta.type : undefined,
  };
}

/** A static dimension, or undefined for symbolic/unknown ones. */
export function staticDim(
  shape: readonly (number | string)[] | undefined,
  index: number,
): number | undefined {
  const dim = shape?.[index];
  return typeof dim === 'number' && dim >= 0 ? dim : undefined;
}

/** One session and how many loaded models hold it. */
export interface SharedSession {
  readonly session: Promise<ort.InferenceSession>;
  refs: number;
}

/**
 * Sessions shared by key (the SHA-256 of the ONNX bytes): every skill that loads the same
 * network shares one session, released when the last of them lets go.
 */
export class SessionPool {
  readonly #sessions = new Map<string, SharedSession>();

  constructor(private readonly logger: Logger) {}

  acquire(key: string, bytes: Uint8Array): SharedSession {
    let shared = this.#sessions.get(key);
    if (shared === undefined) {
      shared = { session: createSession(bytes), refs: 0 };
      this.#sessions.set(key, shared);
      shared.session.catch(() => this.#sessions.delete(key));
      this.logger.debug({ sha256: key }, '[po/models] ONNX session created');
    } else {
      this.logger.debug({ sha256: key }, '[po/models] ONNX session reused');
    }
    shared.refs += 1;
    return shared;
  }

  async release(key: string, shared: SharedSession): Promise<void> {
    shared.refs -= 1;
    if (shared.refs > 0) return;
    if (this.#sessions.get(key) === shared) this.#sessions.delete(key);
    const session = await shared.session.catch(() => undefined);
    if (session) await releaseSession(session);
  }
}
