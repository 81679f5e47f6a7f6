import { describeError, isPoError, type Logger } from '@po/core';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { readJson } from '../request.ts';
import { replayReportSchema, replayRequestSchema, replayStartedSchema } from '../schemas.ts';
import type { ReplayService } from '../types.ts';

export const replaysOperations: Operation[] = [
  {
    method: 'post',
    path: '/replays',
    summary: 'Start a replay of a strategy over a window of plant history (runs in the background).',
    tag: 'replays',
    body: replayRequestSchema,
    ok: { status: 202, description: '`{ status, id, rows }`.', schema: replayStartedSchema },
    errors: [400, 401, 409, 501, 503],
  },
  {
    method: 'get',
    path: '/replays/{id}',
    summary: 'The report of a replay (model-estimated figures are labelled so).',
    tag: 'replays',
    ok: { status: 200, description: 'The replay report.', schema: replayReportSchema },
    errors: [401, 404, 501, 503],
  },
];

/** `POST /replays`, `GET /replays/:id`: 501 without a replay service. */
export function replaysRoutes(replays: ReplayService | undefined, logger: Logger) {
  const service = (): ReplayService => {
    if (replays) return replays;
    throw httpError.notConfigured(
      'this API has no replays; start it with a database to replay plant history',
    );
  };
  /** A service call; its REPLAY_* errors map by code, anything else (the database) is a 503. */
  const guard = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (e) {
      if (isPoError(e) && e.code.startsWith('REPLAY_')) throw e;
      logger.warn({ err: describeError(e) }, 'replays failed');
      throw httpError.storeUnavailable(e);
    }
  };
  return new Hono()
    .post('/', async (c) => {
      const replays = service();
      const body = await readJson(
        c,
        replayRequestSchema,
        'send { from, to, every?, strategy? } (ISO 8601 times)',
      );
      const started = await guard(
        replays.start({
          from: new Date(body.from),
          to: new Date(body.to),
          every: body.every,
          strategy: body.strategy,
        }),
      );
      return c.json({ status: 'accepted' as const, ...started }, 202);
    })
    .get('/:id', async (c) => {
      const id = c.req.param('id');
      const report = await guard(service().report(id));
      if (!report) throw httpError.notFound(`no replay with id '${id}'`);
      return c.json(report);
    });
}
