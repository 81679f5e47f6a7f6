/**
 * The pickle opcode table: for each opcode po reads (protocols 2 to 5), its name and a small
 * handler over the `PickleMachine`; the protocol 0/1 text opcodes, the extension registry and
 * out-of-band buffers are listed without a handler and refused by name. Any other byte is not an
 * opcode. Tuples are frozen arrays, dicts `Map`s (no key touches a prototype), sets `Set`s.
 */
import type { PickleMachine } from './pickle-machine.ts';

/** One opcode: its name (for messages) and what it does; no `run` means po refuses it. */
export interface PickleOpcode {
  readonly name: string;
  readonly run?: (m: PickleMachine) => void;
}

const tuple = (...items: unknown[]): readonly unknown[] => Object.freeze(items);

/** The opcode table, by byte value. */
export const PICKLE_OPCODES: Readonly<Record<number, PickleOpcode>> = {
  // Framing and control
  128: { name: 'PROTO', run: (m) => protocol(m, m.u8()) },
  149: { name: 'FRAME', run: (m) => void m.u64('FRAME') }, // the length only helps buffered readers
  46: { name: 'STOP', run: stop },
  40: { name: 'MARK', run: (m) => m.mark() },
  48: { name: 'POP', run: (m) => void m.pop() },
  49: { name: 'POP_MARK', run: (m) => void m.popMark() },
  50: { name: 'DUP', run: (m) => m.push(m.top()) },
  // Memo
  113: { name: 'BINPUT', run: (m) => m.memoPut(m.u8()) },
  114: { name: 'LONG_BINPUT', run: (m) => m.memoPut(m.u32()) },
  148: { name: 'MEMOIZE', run: (m) => m.memoPut(m.memo.size) },
  104: { name: 'BINGET', run: (m) => m.memoGet(m.u8()) },
  106: { name: 'LONG_BINGET', run: (m) => m.memoGet(m.u32()) },
  // Constants and numbers
  78: { name: 'NONE', run: (m) => m.push(null) },
  136: { name: 'NEWTRUE', run: (m) => m.push(true) },
  137: { name: 'NEWFALSE', run: (m) => m.push(false) },
  74: { name: 'BININT', run: (m) => m.push(m.i32()) },
  75: { name: 'BININT1', run: (m) => m.push(m.u8()) },
  77: { name: 'BININT2', run: (m) => m.push(m.u16()) },
  138: { name: 'LONG1', run: (m) => m.push(m.long(m.u8(), 'LONG1')) },
  139: { name: 'LONG4', run: long4 },
  71: { name: 'BINFLOAT', run: (m) => m.push(m.f64('BINFLOAT')) },
  // Strings and bytes
  84: { name: 'BINSTRING', run: (m) => m.push(m.latin1(m.i32(), 'BINSTRING')) },
  85: { name: 'SHORT_BINSTRING', run: (m) => m.push(m.latin1(m.u8(), 'SHORT_BINSTRING')) },
  88: { name: 'BINUNICODE', run: (m) => m.push(m.text(m.u32(), 'BINUNICODE')) },
  140: { name: 'SHORT_BINUNICODE', run: (m) => m.push(m.text(m.u8(), 'SHORT_BINUNICODE')) },
  141: { name: 'BINUNICODE8', run: (m) => m.push(m.text(m.u64('BINUNICODE8'), 'BINUNICODE8')) },
  66: { name: 'BINBYTES', run: (m) => m.push(m.take(m.u32(), 'BINBYTES')) },
  67: { name: 'SHORT_BINBYTES', run: (m) => m.push(m.take(m.u8(), 'SHORT_BINBYTES')) },
  142: { name: 'BINBYTES8', run: (m) => m.push(m.take(m.u64('BINBYTES8'), 'BINBYTES8')) },
  150: { name: 'BYTEARRAY8', run: (m) => m.push(m.take(m.u64('BYTEARRAY8'), 'BYTEARRAY8').slice()) },
  152: { name: 'READONLY_BUFFER', run: (m) => void m.top() }, // a no-op on in-band data
  // Tuples
  41: { name: 'EMPTY_TUPLE', run: (m) => m.push(tuple()) },
  116: { name: 'TUPLE', run: (m) => m.push(Object.freeze(m.popMark())) },
  133: { name: 'TUPLE1', run: (m) => m.push(tuple(m.pop())) },
  134: { name: 'TUPLE2', run: tuple2 },
  135: { name: 'TUPLE3', run: tuple3 },
  // Lists
  93: { name: 'EMPTY_LIST', run: (m) => m.push([]) },
  108: { name: 'LIST', run: (m) => m.push(m.popMark()) },
  97: { name: 'APPEND', run: append },
  101: { name: 'APPENDS', run: (m) => appendAll(m, m.popMark()) },
  // Dicts
  125: { name: 'EMPTY_DICT', run: (m) => m.push(new Map()) },
  100: { name: 'DICT', run: dict },
  115: { name: 'SETITEM', run: setItem },
  117: { name: 'SETITEMS', run: (m) => setAll(m, m.popMark()) },
  // Sets
  143: { name: 'EMPTY_SET', run: (m) => m.push(new Set()) },
  144: { name: 'ADDITEMS', run: (m) => addAll(m, m.popMark()) },
  145: { name: 'FROZENSET', run: (m) => m.push(new Set(m.popMark())) },
  // Globals and objects: only the caller's allow-list gives them a meaning
  99: { name: 'GLOBAL', run: global },
  147: { name: 'STACK_GLOBAL', run: stackGlobal },
  82: { name: 'REDUCE', run: reduce },
  129: { name: 'NEWOBJ', run: newObject },
  146: { name: 'NEWOBJ_EX', run: newObjectEx },
  98: { name: 'BUILD', run: (m) => m.build(m.pop()) },
  81: { name: 'BINPERSID', run: (m) => m.push(m.persistentId(m.pop())) },
  // Refused: protocol 0/1 text opcodes, the extension registry, out-of-band buffers
  73: { name: 'INT' },
  76: { name: 'LONG' },
  70: { name: 'FLOAT' },
  83: { name: 'STRING' },
  86: { name: 'UNICODE' },
  112: { name: 'PUT' },
  103: { name: 'GET' },
  105: { name: 'INST' },
  111: { name: 'OBJ' },
  80: { name: 'PERSID' },
  130: { name: 'EXT1' },
  131: { name: 'EXT2' },
  132: { name: 'EXT4' },
  151: { name: 'NEXT_BUFFER' },
};

function protocol(m: PickleMachine, version: number): void {
  if (version < 2 || version > 5) {
    throw m.refuse(
      'UNSUPPORTED_FORMAT',
      `pickle protocol ${version} is not supported (po reads 2 to 5)`,
      'Re-save it with pickle.dump(obj, f, protocol=4).',
    );
  }
}

function stop(m: PickleMachine): void {
  const value = m.pop();
  if (m.stack.length !== 0 || m.metastack.length !== 0) {
    throw m.fail('MALFORMED', `STOP at byte ${m.opPos} leaves ${m.stack.length} value(s) on the stack`);
  }
  m.result = value;
  m.done = true;
}

function long4(m: PickleMachine): void {
  const n = m.i32();
  if (n < 0 || n > m.limits.maxLongBytes) {
    throw m.fail(
      'TOO_LARGE',
      `LONG4 at byte ${m.opPos} declares a ${n}-byte integer (limit ${m.limits.maxLongBytes})`,
    );
  }
  m.push(m.long(n, 'LONG4'));
}

function tuple2(m: PickleMachine): void {
  const b = m.pop();
  const a = m.pop();
  m.push(tuple(a, b));
}

function tuple3(m: PickleMachine): void {
  const c = m.pop();
  const b = m.pop();
  const a = m.pop();
  m.push(tuple(a, b, c));
}

function append(m: PickleMachine): void {
  const item = m.pop();
  m.appendItems(m.top(), [item]);
}

/** APPENDS: the items were taken above the MARK first, so `top` is the list below it. */
function appendAll(m: PickleMachine, items: unknown[]): void {
  m.appendItems(m.top(), items);
}

function dict(m: PickleMachine): void {
  const items = m.popMark();
  const value = new Map();
  m.setItems(value, items);
  m.push(value);
}

function setItem(m: PickleMachine): void {
  const value = m.pop();
  const key = m.pop();
  m.setItems(m.top(), [key, value]);
}

function setAll(m: PickleMachine, items: unknown[]): void {
  m.setItems(m.top(), items);
}

function addAll(m: PickleMachine, items: unknown[]): void {
  m.addItems(m.top(), items);
}

function global(m: PickleMachine): void {
  const module = m.line('GLOBAL');
  const name = m.line('GLOBAL');
  m.push(m.resolveGlobal(module, name));
}

function stackGlobal(m: PickleMachine): void {
  const name = m.pop();
  const module = m.pop();
  m.push(m.resolveGlobal(module, name));
}

function reduce(m: PickleMachine): void {
  const args = m.pop();
  const fn = m.pop();
  m.push(m.call(fn, args, undefined, 'REDUCE'));
}

function newObject(m: PickleMachine): void {
  const args = m.pop();
  const cls = m.pop();
  m.push(m.call(cls, args, undefined, 'NEWOBJ'));
}

function newObjectEx(m: PickleMachine): void {
  const kwargs = m.pop();
  const args = m.pop();
  const cls = m.pop();
  if (!(kwargs instanceof Map))
    throw m.fail('MALFORMED', `NEWOBJ_EX at byte ${m.opPos} expects a kwargs dict`);
  m.push(m.call(cls, args, kwargs, 'NEWOBJ'));
}
