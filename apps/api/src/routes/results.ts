import { describeError, errorCode, type Logger } from '@po/core';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import { identityOf } from '../middleware/auth.ts';
import type { Operation } from '../openapi.ts';
import { check, readJson } from '../request.ts';
import {
  feedbackRequestSchema,
  feedbackResponseSchema,
  resultResponseSchema,
  resultsQuerySchema,
  resultsResponseSchema,
} from '../schemas.ts';
import type { ResultsStore } from '../types.ts';

export const resultsOperations: Operation[] = [
  {
    method: 'get',
    path: '/results',
    summary: 'Recent stored results, newest first.',
    tag: 'results',
    query: resultsQuerySchema,
    ok: { status: 200, description: '`{ status, count, results }`.', schema: resultsResponseSchema },
    errors: [400, 401, 501, 503],
  },
  {
    method: 'get',
    path: '/results/{id}',
    summary: 'One stored result.',
    tag: 'results',
    ok: { status: 200, description: '`{ status, result }`.', schema: resultResponseSchema },
    errors: [400, 401, 404, 501, 503],
  },
  {
    method: 'post',
    path: '/results/{id}/feedback',
    summary: 'Record what the operator did with a recommendation.',
    tag: 'results',
    body: feedbackRequestSchema,
    ok: { status: 201, description: '`{ status, feedback }`.', schema: feedbackResponseSchema },
    errors: [400, 401, 403, 404, 501, 503],
  },
];

/** `GET /results`, `GET /results/:id`, `POST /results/:id/feedback`: 501 without a results store. */
export function resultsRoutes(results: ResultsStore | undefined, logger: Logger) {
  const store = (): ResultsStore => {
    if (results) return results;
    throw httpError.notConfigured(
      'this API has no results store; start it with a database (DATABASE_URL or the embedded one) to keep results',
    );
  };
  /** A store call; a store that fails is a 503 (the request was fine). */
  const guard = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (e) {
      // The store's own check of an argument (a value the route let through): the client's mistake.
      if (errorCode(e) === 'INVALID_ARGUMENT') throw httpError.badRequest(describeError(e, { scope: false }));
      logger.warn({ err: describeError(e) }, 'results store failed');
      throw httpError.storeUnavailable(e);
    }
  };
  const noResult = (id: string) => httpError.notFound(`no result with id '${id}'`);
  /** A result id is a positive whole number: anything else is a 400 naming it, before the store. */
  const resultId = (raw: string): string => {
    if (/^[0-9]{1,16}$/.test(raw) && Number.isSafeInteger(Number(raw)) && Number(raw) > 0) return raw;
    throw httpError.badRequest(
      `result id '${raw.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}' is not a result id; ids are positive whole numbers (see GET /results)`,
      [{ path: 'id', message: 'must be a positive whole number' }],
    );
  };

  return new Hono()
    .get('/', async (c) => {
      const results = store();
      const { since, limit } = check(resultsQuerySchema, c.req.query(), 'invalid query');
      const rows = await guard(results.recent({ since: since ? new Date(since) : undefined, limit }));
      return c.json({ status: 'success', count: rows.length, results: rows });
    })
    .get('/:id', async (c) => {
      const results = store();
      const id = resultId(c.req.param('id'));
      const row = await guard(results.get(id));
      if (!row) throw noResult(id);
      return c.json({ status: 'success', result: row });
    })
    .post('/:id/feedback', async (c) => {
      const results = store();
      const id = resultId(c.req.param('id'));
      const feedback = await readJson(
        c,
        feedbackRequestSchema,
        'send {"decision": "accepted", "operator": "..."}',
      );
      if (feedback.decision === 'modified' && !feedback.values) {
        throw httpError.badRequest('a modified decision needs the applied setpoints in `values`', [
          { path: 'values', message: 'is required when decision is modified' },
        ]);
      }
      const who = identityOf(c);
      const stored = await guard(
        results.addFeedback(id, feedback, who ? { actor: who.name, role: who.role } : undefined),
      );
      if (stored === undefined) throw noResult(id);
      return c.json({ status: 'success', feedback: stored }, 201);
    });
}
