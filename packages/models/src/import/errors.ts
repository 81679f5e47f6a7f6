import type { PoErrorOptions } from '@po/core';
import { ModelsError, type ModelsErrorCode } from '../errors.ts';

/** Why a `.pth` or `.pkl` file was refused or could not be read. */
export type ImportProblem =
  /** The pickle names a global (class or function) outside the allow-list. */
  | 'REFUSED_GLOBAL'
  /** A persistent id other than torch's `('storage', type, key, location, numel)`. */
  | 'REFUSED_PERSISTENT_ID'
  /** An opcode po does not interpret (protocol 0/1 text opcodes, extension registry, out-of-band buffers). */
  | 'REFUSED_OPCODE'
  /** The file ends early. */
  | 'TRUNCATED'
  /** The bytes do not follow the format (stack underflow, wrong argument types, bad zip, ...). */
  | 'MALFORMED'
  /** A declared size is beyond po's limits. */
  | 'TOO_LARGE'
  /** A joblib file (compressed, or with numpy arrays after the pickle). */
  | 'JOBLIB'
  /** A pickle protocol other than 2 to 5, or a torch format po does not read. */
  | 'UNSUPPORTED_FORMAT'
  /** A tensor with a dtype, layout or shape po does not read. */
  | 'UNSUPPORTED_TENSOR'
  /** The state_dict is not a stack of Linear / BatchNorm1d layers po can derive. */
  | 'UNEXPECTED_LAYOUT'
  /** An activation name po cannot export. */
  | 'UNSUPPORTED_ACTIVATION'
  /** A scaler po cannot reproduce (multi-column, unknown attributes, ...). */
  | 'UNSUPPORTED_SCALER'
  /** The network does not take as many inputs as the skill lists. */
  | 'INPUT_MISMATCH';

const CODES: Record<ImportProblem, ModelsErrorCode> = {
  REFUSED_GLOBAL: 'UNSUPPORTED_FORMAT',
  REFUSED_PERSISTENT_ID: 'UNSUPPORTED_FORMAT',
  REFUSED_OPCODE: 'UNSUPPORTED_FORMAT',
  TRUNCATED: 'FILE_UNREADABLE',
  MALFORMED: 'FILE_UNREADABLE',
  TOO_LARGE: 'FILE_UNREADABLE',
  JOBLIB: 'UNSUPPORTED_FORMAT',
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  UNSUPPORTED_TENSOR: 'UNSUPPORTED_FORMAT',
  UNEXPECTED_LAYOUT: 'UNSUPPORTED_FORMAT',
  UNSUPPORTED_ACTIVATION: 'UNSUPPORTED_FORMAT',
  UNSUPPORTED_SCALER: 'INVALID_SCALER',
  INPUT_MISMATCH: 'MODEL_SHAPE_MISMATCH',
};

/**
 * A `.pth` or `.pkl` file was refused or could not be read. The message names the file,
 * says what is wrong (for a refused global: which one) and what to do; nothing in the
 * file was executed.
 */
export class ModelImportError extends ModelsError {
  /** Finer reason than `code`. */
  readonly problemKind: ImportProblem;
  /** The file as named by the caller. */
  readonly file: string;
  /** What is wrong, without a trailing period. */
  readonly problem: string;
  /** What to do about it. */
  readonly fix: string;
  /** For `REFUSED_GLOBAL`: the refused `module.name`. */
  readonly global: string | undefined;

  constructor(
    problemKind: ImportProblem,
    file: string,
    problem: string,
    fix: string,
    options?: PoErrorOptions & { global?: string },
  ) {
    super(CODES[problemKind], `File '${file}': ${problem}. ${fix}`, options);
    this.problemKind = problemKind;
    this.file = file;
    this.problem = problem;
    this.fix = fix;
    this.global = options?.global;
  }
}
