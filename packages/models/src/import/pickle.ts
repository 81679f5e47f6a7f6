/**
 * A restricted reader for Python pickles (protocols 2 to 5). It interprets the opcodes
 * itself (`pickle-opcodes.ts`) and executes nothing: a global (class or function) is understood
 * only when the caller's allow-list maps it to a pure TypeScript handler; any other global is
 * refused, named, at the opcode that names it, before it could be called. Dicts become `Map`s,
 * so no key (`__proto__`, `constructor`) ever touches an object's prototype.
 */
import type { ModelImportError } from './errors.ts';
import { PickleMachine, type ReadPickleOptions } from './pickle-machine.ts';
import { PICKLE_OPCODES, type PickleOpcode } from './pickle-opcodes.ts';

/** The opcode table as a 256-entry array: one indexed load per opcode. */
const DISPATCH: readonly (PickleOpcode | undefined)[] = Array.from(
  { length: 256 },
  (_, op) => PICKLE_OPCODES[op],
);

function refusedOpcode(m: PickleMachine, op: number): ModelImportError {
  const name = DISPATCH[op]?.name;
  if (name === undefined) {
    return m.fail('MALFORMED', `unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${m.opPos}`);
  }
  return m.refuse(
    'REFUSED_OPCODE',
    `the opcode ${name} at byte ${m.opPos} is not read by po (protocol 0/1 text opcodes, the extension ` +
      'registry and out-of-band buffers are not supported)',
    'Re-save it with pickle.dump(obj, f, protocol=4).',
  );
}

/**
 * Reads one pickle (protocol 2 to 5) and returns its value. Only the globals in
 * `options.globals` are understood; any other is refused with a `ModelImportError`
 * (`REFUSED_GLOBAL`) naming it. Throws `ModelImportError` naming `options.file` for a
 * truncated or malformed pickle, an unsupported opcode or protocol, or a size beyond the
 * limits.
 */
export function readPickle(bytes: Uint8Array, options: ReadPickleOptions): unknown {
  const m = new PickleMachine(bytes, options);
  if (bytes.length > m.limits.maxBytes) {
    throw m.fail('TOO_LARGE', `the pickle is ${bytes.length} bytes; po reads at most ${m.limits.maxBytes}`);
  }
  if (bytes.length === 0) throw m.fail('TRUNCATED', 'the file is empty');
  if (bytes[0] !== 0x80) {
    throw m.refuse(
      'UNSUPPORTED_FORMAT',
      `not a pickle of protocol 2 to 5 (first byte 0x${bytes[0]!.toString(16).padStart(2, '0')})`,
      'po reads pickles written with protocol 2 or newer: re-save it with pickle.dump(obj, f, protocol=4).',
    );
  }
  while (!m.done) {
    m.opPos = m.pos;
    if (m.pos >= bytes.length)
      throw m.fail('TRUNCATED', `the pickle ends at byte ${m.pos} without a STOP opcode`);
    const op = bytes[m.pos++]!;
    const run = DISPATCH[op]?.run;
    if (run === undefined) throw refusedOpcode(m, op);
    run(m);
  }
  return m.result;
}
