/**
 * Bounds on what a strategy may make po do: its text, its nesting and aliases, its size, its
 * formulas and its optimizer options. A strategy past a bound is refused before the work it
 * would cause (a text before it is parsed, a formula before it is compiled), with an issue that
 * names the bound and the setting that raises it.
 */
import type { StrategyIssue } from './errors.ts';

/** Every bound; `@po/settings` holds the values a service uses (`limits.*`). */
export interface StrategyLimits {
  /** Largest strategy text, in bytes (UTF-8). */
  maxTextBytes: number;
  /** Deepest nesting of mappings and sequences (YAML or JSON). */
  maxNesting: number;
  /** Most YAML aliases (`*name`) resolved, counting aliases inside aliased nodes. */
  maxAliases: number;
  /** Most variables. */
  maxVariables: number;
  /** Most skills. */
  maxSkills: number;
  /** Longest formula, in characters. */
  maxFormulaChars: number;
  /** Largest `population_size` of an optimizer. */
  maxPopulation: number;
  /** Largest `maxiter` of an optimizer. */
  maxIterations: number;
  /** Largest `max_evaluations` of an optimizer. */
  maxEvaluations: number;
  /** Largest `max_time_ms` of an optimizer. */
  maxTimeMs: number;
}

/** The defaults: far above any kiln strategy, far below what exhausts a worker. */
export const DEFAULT_STRATEGY_LIMITS: Readonly<StrategyLimits> = Object.freeze({
  maxTextBytes: 1_048_576,
  maxNesting: 64,
  maxAliases: 1_000,
  maxVariables: 1_000,
  maxSkills: 1_000,
  maxFormulaChars: 10_000,
  maxPopulation: 1_000,
  maxIterations: 10_000,
  maxEvaluations: 1_000_000,
  maxTimeMs: 60_000,
});

/** The setting that raises each bound (named in every issue). */
export const LIMIT_SETTINGS: Readonly<Record<keyof StrategyLimits, string>> = {
  maxTextBytes: 'limits.strategy_bytes (PO_LIMIT_STRATEGY_BYTES)',
  maxNesting: 'limits.nesting (PO_LIMIT_NESTING)',
  maxAliases: 'limits.yaml_aliases (PO_LIMIT_YAML_ALIASES)',
  maxVariables: 'limits.variables (PO_LIMIT_VARIABLES)',
  maxSkills: 'limits.skills (PO_LIMIT_SKILLS)',
  maxFormulaChars: 'limits.formula_chars (PO_LIMIT_FORMULA_CHARS)',
  maxPopulation: 'limits.population (PO_LIMIT_POPULATION)',
  maxIterations: 'limits.iterations (PO_LIMIT_ITERATIONS)',
  maxEvaluations: 'limits.evaluations (PO_LIMIT_EVALUATIONS)',
  maxTimeMs: 'limits.optimizer_time_ms (PO_LIMIT_OPTIMIZER_TIME_MS)',
};

/** Whether an issue is a bound refused (rather than a mistake in the strategy). */
export function isLimitIssue(issue: StrategyIssue): boolean {
  return issue.code === 'LIMIT_EXCEEDED';
}

/** The defaults with `overrides` on top. */
export function strategyLimits(overrides: Partial<StrategyLimits> = {}): StrategyLimits {
  return { ...DEFAULT_STRATEGY_LIMITS, ...overrides };
}

/** The issue at `path`: `what` and its value, the bound and the setting that raises it (`then` follows). */
export function overLimit(
  path: string,
  what: string,
  limit: keyof StrategyLimits,
  value: number,
  max: number,
  then = '',
): StrategyIssue {
  return {
    path,
    message: `${what} ${value} is over the limit of ${max} (${LIMIT_SETTINGS[limit]})${then}`,
    code: 'LIMIT_EXCEEDED',
  };
}

/**
 * Checks a strategy text before it is parsed: its size and how deep it nests. Linear in the text
 * and never recursive, so a hostile text costs milliseconds. An empty list when it is within bounds.
 */
export function checkStrategyText(
  text: string,
  limits: StrategyLimits = DEFAULT_STRATEGY_LIMITS,
): StrategyIssue[] {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxTextBytes) {
    return [overLimit('(text)', 'strategy size (bytes)', 'maxTextBytes', bytes, limits.maxTextBytes)];
  }
  const deepest = yamlNesting(text, limits.maxNesting);
  if (deepest.depth > limits.maxNesting) {
    return [
      overLimit(
        `line ${deepest.line}`,
        'nesting depth',
        'maxNesting',
        deepest.depth,
        limits.maxNesting,
        '; a strategy nests a few levels',
      ),
    ];
  }
  return [];
}

/**
 * How deep a YAML (or JSON) text nests, counted from above: flow brackets outside quoted
 * scalars, block indentation levels and compact `- - -` entries. Stops counting at `stopAbove + 1`.
 * May count a level more than a parser would (a block scalar's body), never fewer.
 */
export function yamlNesting(text: string, stopAbove: number): { depth: number; line: number } {
  const indents: number[] = [];
  let flow = 0;
  let line = 0;
  let start = 0;
  let deepest = { depth: 0, line: 1 };
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line++;
    const depth = lineNesting(text, start, end, indents, flow, stopAbove);
    flow = depth.flow;
    if (depth.total > deepest.depth) deepest = { depth: depth.total, line };
    if (depth.total > stopAbove) break;
    start = end + 1;
  }
  return deepest;
}

function lineNesting(
  text: string,
  start: number,
  end: number,
  indents: number[],
  flowIn: number,
  stopAbove: number,
): { total: number; flow: number } {
  let i = start;
  while (i < end && text[i] === ' ') i++;
  const blank = i === end || text[i] === '#' || text[i] === '\r';
  if (!blank && flowIn === 0) {
    const indent = i - start;
    while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
    indents.push(indent);
  }
  let compact = 0;
  while (
    i + 1 < end &&
    indents.length + compact <= stopAbove &&
    (text[i] === '-' || text[i] === '?') &&
    (text[i + 1] === ' ' || text[i + 1] === '\t')
  ) {
    compact++;
    i += 2;
    while (i < end && text[i] === ' ') i++;
  }
  let flow = flowIn;
  let deepest = flow;
  let quote = '';
  for (; i < end; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && (i === start || text[i - 1] === ' ' || text[i - 1] === '\t')) break;
    else if (ch === '[' || ch === '{') {
      deepest = Math.max(deepest, ++flow);
      if (indents.length + compact + deepest > stopAbove) break;
    } else if ((ch === ']' || ch === '}') && flow > 0) flow--;
  }
  return { total: indents.length + compact + deepest, flow };
}

/**
 * How deep a JSON text nests (brackets outside strings); stops at `stopAbove + 1`. Exact for
 * valid JSON, and linear: check it before `JSON.parse`, whose result deep code would recurse into.
 */
export function jsonNesting(text: string, stopAbove: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 91 /* [ */ || ch === 123 /* { */) {
      deepest = Math.max(deepest, ++depth);
      if (depth > stopAbove) break;
    } else if (ch === 93 || ch === 125) depth--;
  }
  return deepest;
}
