import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dict, float, global, pickle, reduce, tuple } from '../../test/pickle-writer.ts';
import { ModelImportError } from './errors.ts';
import { readPickle } from './pickle.ts';
import { isTuple } from './pickle-values.ts';
import { importScalerPickle } from './scalers-pickle.ts';

const dir = mkdtempSync(join(tmpdir(), 'po-pickle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const marker = join(dir, 'executed');

/** Bytes from opcodes (numbers) and latin-1 text. */
function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else for (const ch of part) out.push(ch.charCodeAt(0));
  }
  return Uint8Array.from(out);
}

/** BINUNICODE: 'X' + uint32 length + UTF-8. */
function binunicode(text: string): (number | string)[] {
  const n = text.length;
  return [0x58, n & 0xff, (n >> 8) & 0xff, 0, 0, text];
}

const command = `touch ${marker}`;

function refusal(
  data: Uint8Array,
  read: (b: Uint8Array) => unknown = (b) => readPickle(b, { file: 'evil.pkl', globals: {} }),
) {
  let error: unknown;
  try {
    read(data);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ModelImportError);
  return error as ModelImportError;
}

describe('readPickle refuses globals outside the allow-list, naming them, and executes nothing', () => {
  const cases: [string, string, Uint8Array][] = [
    // protocol 2: GLOBAL 'os\nsystem' + (command,) + REDUCE + STOP
    [
      'os.system',
      'protocol 2 GLOBAL',
      bytes(0x80, 2, 'c', 'os\nsystem\n', ...binunicode(command), 0x85, 'R', '.'),
    ],
    [
      'posix.system',
      'protocol 2 GLOBAL',
      bytes(0x80, 2, 'c', 'posix\nsystem\n', ...binunicode(command), 0x85, 'R', '.'),
    ],
    [
      'builtins.eval',
      'protocol 2 GLOBAL',
      bytes(
        0x80,
        2,
        'c',
        'builtins\neval\n',
        ...binunicode(`__import__('os').system('${command}')`),
        0x85,
        'R',
        '.',
      ),
    ],
    [
      'subprocess.Popen',
      'protocol 2 GLOBAL',
      bytes(
        0x80,
        2,
        'c',
        'subprocess\nPopen\n',
        ...binunicode('touch'),
        ...binunicode(marker),
        0x86,
        0x85,
        'R',
        '.',
      ),
    ],
    // protocol 4: SHORT_BINUNICODE module, name + STACK_GLOBAL + MEMOIZE + args + REDUCE
    [
      'os.system',
      'protocol 4 STACK_GLOBAL',
      bytes(
        0x80,
        4,
        0x95,
        40,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0x8c,
        2,
        'os',
        0x94,
        0x8c,
        6,
        'system',
        0x94,
        0x93,
        0x94,
        ...binunicode(command),
        0x85,
        'R',
        '.',
      ),
    ],
    [
      'builtins.eval',
      'protocol 4 STACK_GLOBAL',
      bytes(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, ...binunicode('1+1'), 0x85, 'R', '.'),
    ],
    [
      'subprocess.Popen',
      'protocol 5 STACK_GLOBAL',
      bytes(0x80, 5, 0x8c, 10, 'subprocess', 0x8c, 5, 'Popen', 0x93, ...binunicode(command), 0x85, 'R', '.'),
    ],
    // getattr(builtins, 'eval') chains: refused at the first global already.
    [
      'builtins.getattr',
      'protocol 4 STACK_GLOBAL',
      bytes(
        0x80,
        4,
        0x8c,
        8,
        'builtins',
        0x8c,
        7,
        'getattr',
        0x93,
        0x8c,
        8,
        'builtins',
        0x8c,
        4,
        'eval',
        0x86,
        'R',
        '.',
      ),
    ],
    // The global hidden in a dict value, after harmless data.
    [
      'os.system',
      'protocol 2 inside a dict',
      bytes(
        0x80,
        2,
        '}',
        ...binunicode('a'),
        'K',
        1,
        's',
        ...binunicode('b'),
        'c',
        'os\nsystem\n',
        ...binunicode(command),
        0x85,
        'R',
        's',
        '.',
      ),
    ],
  ];

  for (const [name, how, data] of cases) {
    it(`${name} (${how})`, () => {
      const error = refusal(data);
      expect(error.problemKind).toBe('REFUSED_GLOBAL');
      expect(error.global).toBe(name);
      expect(error.message).toContain(`'${name}'`);
      expect(error.message).toContain("File 'evil.pkl'");
      expect(error.message).toContain('nothing in the file was executed');
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('refuses the same globals when reading a scaler file (scikit-learn allow-list)', () => {
    const error = refusal(cases[0]![2], (b) => importScalerPickle(b, 'saved_scalers/evil.pkl'));
    expect(error.global).toBe('os.system');
    expect(error.message).toContain("File 'saved_scalers/evil.pkl'");
    expect(existsSync(marker)).toBe(false);
  });

  it('an allow-listed value-only global cannot be called', () => {
    const data = bytes(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 6, 'object', 0x93, ')', 'R', '.');
    const error = refusal(data, (b) => importScalerPickle(b, 'x.pkl'));
    expect(error.problemKind).toBe('REFUSED_GLOBAL');
    expect(error.message).toContain("'builtins.object' is allow-listed as a value only");
  });

  it('refuses persistent ids when none are expected', () => {
    const error = refusal(bytes(0x80, 2, ...binunicode('x'), 'Q', '.'));
    expect(error.problemKind).toBe('REFUSED_PERSISTENT_ID');
  });

  it('refuses protocol 0/1 and text opcodes', () => {
    expect(refusal(bytes('(dp0\n.')).problemKind).toBe('UNSUPPORTED_FORMAT');
    expect(refusal(bytes(0x80, 1, '.')).message).toContain('protocol 1');
    expect(refusal(bytes(0x80, 6, '.')).message).toContain('protocol 6');
    const inst = refusal(bytes(0x80, 2, '(', 'i', 'os\nsystem\n', '.'));
    expect(inst.problemKind).toBe('REFUSED_OPCODE');
    expect(inst.message).toContain('INST');
    expect(refusal(bytes(0x80, 2, 0x82, 1, '.')).message).toContain('EXT1');
  });
});

describe('readPickle: data', () => {
  it('a __proto__ or constructor key is a plain dict entry and leaves every prototype alone', () => {
    const data = pickle(
      dict([
        ['__proto__', dict([['polluted', 1]])],
        ['constructor', dict([['prototype', dict([['polluted', 2]])]])],
        ['ok', 3],
      ]),
    );
    const value = readPickle(data, { file: 'proto.pkl', globals: {} }) as Map<string, unknown>;
    expect(value).toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(value)).toBe(Map.prototype);
    expect([...value.keys()]).toEqual(['__proto__', 'constructor', 'ok']);
    expect((value.get('__proto__') as Map<string, unknown>).get('polluted')).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // The DICT opcode (protocol 0 style, still valid in 2+) too.
    const viaDict = readPickle(bytes(0x80, 2, '(', ...binunicode('__proto__'), 'K', 7, 'd', '.'), {
      file: 'x',
      globals: {},
    }) as Map<string, unknown>;
    expect(viaDict.get('__proto__')).toBe(7);
    expect(Object.getPrototypeOf(viaDict)).toBe(Map.prototype);
  });

  it('reads the scalar types, tuples, lists, sets, memo and frames', () => {
    const value = readPickle(
      pickle(
        [
          1,
          -1,
          300,
          70000,
          -(2 ** 40),
          float(0.5),
          'é',
          true,
          false,
          null,
          tuple(1, 2),
          [3],
          new Uint8Array([1, 2]),
        ],
        4,
      ),
      { file: 'x', globals: {} },
    ) as unknown[];
    expect(value.slice(0, 11)).toEqual([1, -1, 300, 70000, -(2 ** 40), 0.5, 'é', true, false, null, [1, 2]]);
    expect(isTuple(value[10])).toBe(true);
    expect(isTuple(value[11])).toBe(false);
    expect(value[12]).toEqual(new Uint8Array([1, 2]));
    // LONG1 of 9 bytes beyond 2^53: a bigint, sign-extended.
    const big = readPickle(bytes(0x80, 2, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, '.'), {
      file: 'x',
      globals: {},
    });
    expect(big).toBe(-(2n ** 64n));
    // MEMOIZE / BINGET share one object.
    const shared = readPickle(bytes(0x80, 4, ']', 0x94, 'h', 0, 0x86, '.'), {
      file: 'x',
      globals: {},
    }) as unknown[];
    expect(shared[0]).toBe(shared[1]);
  });

  it('names the file and the byte of a truncated or malformed pickle', () => {
    const good = pickle(dict([['a', [1, 2, 3]]]));
    for (let cut = 1; cut < good.length; cut++) {
      const error = refusal(good.subarray(0, cut));
      expect(['TRUNCATED', 'MALFORMED']).toContain(error.problemKind);
      expect(error.message).toContain("File 'evil.pkl'");
    }
    expect(refusal(bytes(0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'abc')).problemKind).toBe('TRUNCATED');
    expect(refusal(bytes(0x80, 2, 'h', 5, '.')).message).toContain('memo entry 5');
    expect(refusal(bytes(0x80, 2, 't', '.')).message).toContain('no MARK');
    expect(refusal(bytes(0x80, 2, 'a', '.')).message).toContain('stack underflow');
    expect(refusal(bytes(0x80, 2, 0xff, '.')).message).toContain('unknown opcode 0xff');
    expect(refusal(new Uint8Array(0)).message).toContain('empty');
  });

  it('refuses absurd sizes before allocating', () => {
    const long4 = bytes(0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x0f, 0);
    expect(refusal(long4).problemKind).toBe('TOO_LARGE');
    const bytes8 = bytes(0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x10, 'x');
    expect(refusal(bytes8).problemKind).toBe('TRUNCATED');
    const big = new Uint8Array(64);
    big[0] = 0x80;
    const error = refusal(big, (b) =>
      readPickle(b, { file: 'big.pkl', globals: {}, limits: { maxBytes: 32 } }),
    );
    expect(error.problemKind).toBe('TOO_LARGE');
  });

  it('calls an allow-listed handler with the REDUCE arguments (and nothing else)', () => {
    const calls: unknown[] = [];
    const value = readPickle(pickle(reduce(global('my.mod', 'f'), tuple(1, 'a'))), {
      file: 'x',
      globals: {
        'my.mod.f': {
          call: (args) => {
            calls.push(args);
            return 'ok';
          },
        },
      },
    });
    expect(value).toBe('ok');
    expect(calls).toEqual([[1, 'a']]);
    // The module/name pair must match exactly (no dotted-name ambiguity).
    const error = refusal(pickle(reduce(global('my', 'mod.f'), tuple())), (b) =>
      readPickle(b, { file: 'x', globals: { 'my.mod.f': { call: () => 1 } } }),
    );
    expect(error.global).toBe('my.mod.f');
  });
});
