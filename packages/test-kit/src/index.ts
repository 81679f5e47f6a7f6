export { gaussian, mulberry32 } from '@po/core';
export {
  type DroppableDatabase,
  type OpenedTestDatabase,
  openPostgresSchema,
  randomName,
  TEST_DATABASE_URL,
  type TestDatabaseBackend,
  type TestDatabaseOptions,
  type TestDatabaseTarget,
  testDatabases,
} from './databases.ts';
export { aliasBomb, aliasedStrategy, nestedBrackets } from './hostile-yaml.ts';
export {
  S3RVER_BUCKET,
  S3RVER_CREDENTIALS,
  type S3rverStartOptions,
  startS3rver,
  type TestS3Server,
} from './s3rver.ts';
export { startTcpProxy, type TcpProxy, type TcpProxyOptions, type TcpProxyTarget } from './tcp-proxy.ts';
export { tempDir } from './temp-dir.ts';
export { waitFor } from './wait.ts';
