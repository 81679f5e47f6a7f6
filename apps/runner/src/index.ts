export { type CycleContext, type LoadedStrategy, messageOf, runCycle } from './cycle.ts';
export { type SeedDemoOptions, seedDemo, startDemoFeeder } from './demo.ts';
export { type MismatchSnapshot, MismatchTracker } from './mismatch.ts';
export {
  measuredReadings,
  measuringColumns,
  type PredictionErrorReport,
  predictionChecks,
  predictionErrorSchema,
  predictionErrors,
} from './prediction-error.ts';
export {
  type ReplayData,
  type ReplayOptions,
  type ReplayOutcome,
  type ReplayProgress,
  type ReplaySink,
  replayFigures,
  runReplay,
} from './replay.ts';
export { cycleCounts, type ReplayReport, replayReport, replayReportSchema } from './replay-report.ts';
export { createRunner, type Runner, type RunnerOptions, type TickOutcome } from './runner.ts';
export { median, percentile } from './stats.ts';
export { staticStrategySource } from './strategy.ts';
export type {
  Clock,
  CycleRecord,
  CycleStrategy,
  DataSource,
  InputIssue,
  ModelEvaluation,
  ModelMismatchHealth,
  PlantRow,
  ResultSink,
  RunnerStatus,
} from './types.ts';
export { InputValidator, plantColumns, type ValidationOutcome } from './validation.ts';
