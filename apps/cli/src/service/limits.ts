import type { StrategyLimits } from '@po/rto-engine';
import type { Settings } from '@po/settings';

/** The bounds of `limits.*` in the engine's terms (the API and the worker pool both check them). */
export function strategyLimitsOf(settings: Settings): StrategyLimits {
  const l = settings.limits;
  return {
    maxTextBytes: l.strategy_bytes,
    maxNesting: l.nesting,
    maxAliases: l.yaml_aliases,
    maxVariables: l.variables,
    maxSkills: l.skills,
    maxFormulaChars: l.formula_chars,
    maxPopulation: l.population,
    maxIterations: l.iterations,
    maxEvaluations: l.evaluations,
    maxTimeMs: l.optimizer_time_ms,
  };
}
