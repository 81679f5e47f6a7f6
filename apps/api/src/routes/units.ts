import { describeError, type Logger } from '@po/core';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { unitResponseSchema, unitsResponseSchema } from '../schemas.ts';
import type { UnitsView } from '../types.ts';

export const unitsOperations: Operation[] = [
  {
    method: 'get',
    path: '/units',
    summary: "The fleet's units: state, last cycle, lag, failures, dropped-late jobs.",
    tag: 'results',
    ok: { status: 200, description: '`{ status, count, units }`.', schema: unitsResponseSchema },
    errors: [401, 501, 503],
  },
  {
    method: 'get',
    path: '/units/{id}',
    summary: 'One unit of the fleet.',
    tag: 'results',
    ok: { status: 200, description: '`{ status, unit }`.', schema: unitResponseSchema },
    errors: [401, 404, 501, 503],
  },
];

/** `GET /units`, `GET /units/:id`: 501 when this service runs no fleet. */
export function unitsRoutes(units: UnitsView | undefined, logger: Logger) {
  const view = (): UnitsView => {
    if (units) return units;
    throw httpError.notConfigured(
      'this service runs no fleet; start it with DATABASE_URL and PO_FLEET=true (or po start --mode worker) to serve units',
    );
  };
  const guard = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (e) {
      logger.warn({ err: describeError(e) }, 'units could not be read');
      throw httpError.storeUnavailable(e);
    }
  };
  return new Hono()
    .get('/', async (c) => {
      const list = await guard(view().list());
      return c.json({ status: 'success', count: list.length, units: list });
    })
    .get('/:id', async (c) => {
      const id = c.req.param('id');
      const unit = await guard(view().get(id));
      if (!unit) throw httpError.notFound(`no unit '${id}'`);
      return c.json({ status: 'success', unit });
    });
}
