export { type SeedDemoOptions, seedDemo, startDemoFeeder } from './demo.ts';
export { createRunner, type Runner, type RunnerOptions, type TickOutcome } from './runner.ts';
export { type LocalStrategyOptions, localStrategySource, staticStrategySource } from './strategy.ts';
export type {
  Clock,
  CycleRecord,
  DataSource,
  InputIssue,
  PlantRow,
  ResultSink,
  RunnableStrategy,
  RunnerLogger,
  RunnerStatus,
  StrategySource,
} from './types.ts';
export { InputValidator, plantColumns, type ValidationOutcome } from './validation.ts';
