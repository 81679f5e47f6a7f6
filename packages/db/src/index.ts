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
export {
  createProcessDataSource,
  type PlantRow,
  type ProcessDataInput,
  type ProcessDataSource,
  type ProcessDataSourceOptions,
} from './process-data.ts';
export {
  type CycleRecord,
  type CycleStatus,
  createResultStore,
  type FeedbackDecision,
  type FeedbackInput,
  type RecentFilter,
  type ResultStore,
  type ResultStoreOptions,
  type StoredFeedback,
  type StoredResult,
} from './results.ts';
export type { Database, Queryable, QueryResult } from './types.ts';
