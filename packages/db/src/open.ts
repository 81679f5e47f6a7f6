import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { describeError, errorCode, isUnreachable, type Logger, silentLogger } from '@po/core';
import pRetry from 'p-retry';
import type pg from 'pg';
import { DatabaseError, DbError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { lockDataDir } from './lock.ts';
import { initPgliteFolder, pgliteStartParams, useLiftoffForPglite } from './pglite.ts';
import type { Database, Queryable, QueryResult } from './types.ts';

/** Bounded retry of connection failures (exponential backoff). */
export interface RetryOptions {
  /** Retries after the first attempt. Default 4. */
  retries?: number;
  /** First delay, ms. Default 100. */
  minTimeoutMs?: number;
  /** Largest delay, ms. Default 2000. */
  maxTimeoutMs?: number;
}

export interface OpenDatabaseOptions {
  /** A PostgreSQL URL (`DATABASE_URL`, `postgresql://user:pass@host:5432/db`). Without it, embedded PGlite is used. */
  url?: string | undefined;
  /** Folder of the embedded PGlite database (only without `url`). Default `data/pglite`. */
  dataDir?: string | undefined;
  /**
   * Folder of templates for a new embedded database folder (`makePgliteTemplate` makes them; only
   * without `url`). A new folder is unpacked from the template of the installed PGlite version
   * instead of running initdb; a missing or damaged template is logged and initdb runs. Default
   * none: initdb.
   */
  pgliteTemplates?: string | undefined;
  /** Schema holding the tables (created when missing; set as `search_path`). Default `public`. */
  schema?: string | undefined;
  /** Retry of connection failures. */
  retry?: RetryOptions | undefined;
  /** Largest pool size (PostgreSQL). Default 5. */
  maxConnections?: number | undefined;
  /** Time to wait for a new connection before it counts as failed, ms. Default 5000. */
  connectTimeoutMs?: number | undefined;
  /**
   * Longest statement, ms (PostgreSQL). The server cancels a statement running longer
   * (`statement_timeout`, also `idle_in_transaction_session_timeout`); the client gives up on an
   * answer 1 s later (a half-open link: nothing comes back) and discards that connection, so the
   * next query opens a new one. Default 30000.
   */
  queryTimeoutMs?: number | undefined;
  /** TCP keepalive: first probe after this much idle time, ms (PostgreSQL). Default 10000. */
  keepAliveMs?: number | undefined;
  /** pino-compatible logger. Default silent. */
  logger?: Logger | undefined;
}

/** How long `close` waits for connections in use before it ends them. */
const CLOSE_TIMEOUT_MS = 3000;

/** PostgreSQL's own "not now" codes; socket codes are `isUnreachable`'s, SQLSTATE class 08 is tested apart. */
const SERVER_GONE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** Whether an error means "the server cannot be reached" (retry) rather than "the query is wrong" (do not). */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof DatabaseError) return error.code === 'UNREACHABLE';
  if (isUnreachable(error)) return true;
  const code = errorCode(error) ?? '';
  if (SERVER_GONE_CODES.has(code) || code.startsWith('08')) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended|not queryable|Query read timeout/i.test(
    message,
  );
}

/** `host:port/database` of a URL, never its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${host}:${u.port || '5432'}/${decodeURIComponent(u.pathname.replace(/^\//, '')) || u.username || 'postgres'}`;
  } catch {
    return 'postgresql (unparsable DATABASE_URL)';
  }
}

/**
 * Opens the database: PostgreSQL when `url` is given (a `pg` pool), otherwise embedded
 * PGlite under `dataDir`, locked against a second process. Both answer the same SQL.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const logger = options.logger ?? silentLogger;
  const schema = options.schema ?? 'public';
  const quotedSchema = quoteIdent(schema, 'schema');
  const retry = {
    retries: options.retry?.retries ?? 4,
    minTimeout: options.retry?.minTimeoutMs ?? 100,
    maxTimeout: options.retry?.maxTimeoutMs ?? 2000,
    factor: 2,
  };
  const db = options.url
    ? await openPostgres(options.url, options, logger, schema)
    : await openPglite(resolve(options.dataDir ?? 'data/pglite'), logger, schema, options.pgliteTemplates);

  let closing = false;
  const withRetry = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    pRetry(fn, {
      ...retry,
      // Once closing, a connection failure is final: a stop must not wait for retries.
      shouldRetry: ({ error }) => !closing && isConnectionError(error),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (isConnectionError(error) && retriesLeft > 0)
          logger.warn(
            { target: db.target, attempt: attemptNumber, retriesLeft, err: describeError(error) },
            `[po/db] ${what}: database unreachable, retrying`,
          );
      },
    }).catch((error: unknown) => {
      if (error instanceof DbError) throw error;
      if (isConnectionError(error)) {
        throw new DatabaseError(
          'UNREACHABLE',
          db.target,
          `Cannot reach the database at ${db.target} (${describeError(error)}) after ${retry.retries + 1} attempts. ` +
            'Check that it runs and DATABASE_URL is right.',
          error,
        );
      }
      throw new DatabaseError(
        'QUERY_FAILED',
        db.target,
        `${what} failed on ${db.target}: ${describeError(error)}`,
        error,
      );
    });

  const database: Database = {
    kind: db.kind,
    target: db.target,
    schema,
    query: (sql, params) => withRetry('query', () => db.query(sql, params)),
    transaction: (fn) => withRetry('transaction', () => db.transaction(fn)),
    close: () => {
      closing = true;
      return db.close();
    },
  };
  if (schema !== 'public') {
    try {
      await database.query(`CREATE SCHEMA IF NOT EXISTS ${quotedSchema}`);
    } catch (e) {
      // Another opener may create it at the same instant.
      if (!/already exists|duplicate key/.test(describeError(e))) {
        await db.close();
        throw e;
      }
    }
  }
  return database;
}

type Driver = Omit<Database, 'schema'>;

async function openPostgres(
  url: string,
  options: OpenDatabaseOptions,
  logger: Logger,
  schema: string,
): Promise<Driver> {
  const { default: pgModule } = await import('pg');
  const target = describeUrl(url);
  const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
  // po opens the sockets itself, so that `close` can end them when the link is half-open.
  const sockets = new Set<Socket>();
  const pool: pg.Pool = new pgModule.Pool({
    connectionString: url,
    max: options.maxConnections ?? 5,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: queryTimeoutMs,
    idle_in_transaction_session_timeout: queryTimeoutMs,
    query_timeout: queryTimeoutMs + 1000,
    keepAlive: true,
    keepAliveInitialDelayMillis: options.keepAliveMs ?? 10_000,
    stream: () => {
      const socket = new Socket();
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    },
    // Set at connection start, so every pooled connection sees po's schema first.
    ...(schema !== 'public' ? { options: `-c search_path=${quoteIdent(schema, 'schema')}` } : {}),
  });
  // An idle client whose server went away emits 'error'; unhandled, it would end the process.
  pool.on('error', (e) => logger.warn({ target, err: e.message }, '[po/db] idle connection lost'));
  const run = async <Row>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>> => {
    const r = await client.query(sql, params as unknown[] | undefined);
    return { rows: r.rows as Row[], rowCount: r.rowCount ?? r.rows.length };
  };
  return {
    kind: 'postgres',
    target,
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // A reset between the statements of a checked-out client is emitted as 'error'; unhandled, it
      // would end the process. The next statement fails instead, and the connection is destroyed.
      const onError = (e: Error) => {
        broken = e;
        logger.warn({ target, err: e.message }, '[po/db] connection lost inside a transaction');
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params) };
        const value = await fn(tx);
        await client.query('COMMIT');
        return value;
      } catch (e) {
        if (isConnectionError(e)) broken = e as Error;
        else await client.query('ROLLBACK').catch((r: Error) => (broken = r));
        throw e;
      } finally {
        // A broken connection is destroyed rather than returned to the pool.
        client.off('error', onError);
        client.release(broken);
      }
    },
    async close() {
      // Connections in use get a moment to finish; then sockets still open (a half-open link never
      // answers, nor acknowledges a close) are ended, so that a stop is prompt.
      const ended = await settleWithin(pool.end(), CLOSE_TIMEOUT_MS);
      if (!ended) logger.warn({ target }, '[po/db] close: connections still busy; ending them');
      const closing = [...sockets].map((s) => new Promise((done) => s.once('close', done)));
      if (!(await settleWithin(Promise.all(closing), ended ? 500 : 0)))
        for (const socket of sockets) socket.destroy();
    },
  };
}

/** Whether `work` settled within `ms` (its rejection counts as settled). */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      bound,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function openPglite(
  dataDir: string,
  logger: Logger,
  schema: string,
  templates: string | undefined,
): Promise<Driver> {
  const release = await lockDataDir(dataDir, logger);
  try {
    useLiftoffForPglite();
    const { PGlite } = await import('@electric-sql/pglite');
    const startParams = pgliteStartParams(PGlite.defaultStartParams);
    await initPgliteFolder(dataDir, startParams, logger, templates);
    const pglite = await PGlite.create(dataDir, { startParams });
    if (schema !== 'public') {
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema, 'schema')}`);
      await pglite.exec(`SET search_path TO ${quoteIdent(schema, 'schema')}`);
    }
    const toResult = <Row>(r: { rows: unknown[]; affectedRows?: number }): QueryResult<Row> => ({
      rows: r.rows as Row[],
      rowCount: r.affectedRows || r.rows.length,
    });
    let closed = false;
    return {
      kind: 'pglite',
      target: dataDir,
      query: async (sql, params) => toResult(await pglite.query(sql, params as unknown[] | undefined)),
      transaction: (fn) =>
        pglite.transaction((tx) =>
          fn({
            query: async (sql, params) => toResult(await tx.query(sql, params as unknown[] | undefined)),
          }),
        ),
      async close() {
        if (closed) return;
        closed = true;
        try {
          await pglite.close();
        } finally {
          await release();
        }
      },
    };
  } catch (e) {
    await release();
    throw e;
  }
}
