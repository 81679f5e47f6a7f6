export {
  DatabaseError,
  DatabaseLockedError,
  DbError,
  type DbErrorCode,
  MissingColumnsError,
} from './errors.ts';
export { isIdentifier, quoteIdent } from './identifiers.ts';
export { defaultTableNames, MIGRATIONS_TABLE, migrate, type TableNames } from './migrations.ts';
export {
  describeUrl,
  isConnectionError,
  type OpenDatabaseOptions,
  openDatabase,
  type RetryOptions,
} from './open.ts';
export { makePgliteTemplate, PGLITE_SETTINGS, pgliteStartParams, pgliteTemplatePath } from './pglite.ts';
export {
  createProcessDataSource,
  type ExactTime,
  exactTime,
  exactTimeSql,
  type PlantRow,
  type ProcessDataInput,
  type ProcessDataSource,
  type ProcessDataSourceOptions,
  type TimeWindow,
} from './process-data.ts';
export {
  createReplayStore,
  type Replay,
  type ReplayCycleOutcome,
  type ReplayCycleRecord,
  type ReplayDecision,
  type ReplayInput,
  type ReplayPredictionChecks,
  type ReplayStatus,
  type ReplayStore,
  type ReplayStoreOptions,
  type StoredReplayCycle,
} from './replays.ts';
export {
  type Actor,
  type AuditEntry,
  type CycleRecord,
  type CycleStatus,
  createResultStore,
  type FeedbackDecision,
  type FeedbackInput,
  type RecentQuery,
  type ResultStore,
  type ResultStoreOptions,
  type StoredAuditEntry,
  type StoredFeedback,
  type StoredResult,
} from './results.ts';
export type { Database, Queryable, QueryResult } from './types.ts';
