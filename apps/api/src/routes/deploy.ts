import { describeError, isPoError } from '@po/core';
import { Hono } from 'hono';
import { z } from 'zod';
import { httpError } from '../errors.ts';
import { identityOf } from '../middleware/auth.ts';
import type { Operation } from '../openapi.ts';
import { readJson } from '../request.ts';
import type { DashboardData, StrategyVersions } from '../types.ts';

export const deployRequestSchema = z
  .object({ version: z.string().min(1).describe('The strategy version in the store to deploy.') })
  .strict()
  .describe('POST /strategies/deploy body.');

export const deployResponseSchema = z.object({
  status: z.literal('success'),
  version: z.string(),
  previous: z.string().nullable().describe('The version deployed before.'),
});

export const deployOperations: Operation[] = [
  {
    method: 'post',
    path: '/strategies/deploy',
    summary:
      'Deploy a strategy version of the store (engineer role); refused unless it validates and every model loads. Audited.',
    tag: 'strategies',
    body: deployRequestSchema,
    ok: { status: 200, description: '`{ status, version, previous }`.', schema: deployResponseSchema },
    errors: [400, 401, 403, 501, 503],
  },
];

/** `POST /strategies/deploy`: the role is checked where it is mounted. */
export function deployRoutes(versions: StrategyVersions | undefined, data: DashboardData | undefined) {
  return new Hono().post('/', async (c) => {
    const { version } = await readJson(c, deployRequestSchema, 'send {"version": "1.2.0"}');
    if (!versions) {
      throw httpError.notConfigured(
        'this po serves a strategy file (PO_STRATEGY_FILE), not the store: nothing to deploy',
      );
    }
    const previous = (await versions.deployed()) ?? null;
    try {
      await versions.deploy(version);
    } catch (e) {
      if (isPoError(e))
        throw httpError.badRequest(
          `version ${version} was not deployed: ${describeError(e, { scope: false })}`,
        );
      throw e;
    }
    const who = identityOf(c);
    await data?.audit({
      actor: who?.name ?? 'anonymous',
      role: who?.role ?? 'none',
      action: 'deploy',
      target: `strategy ${version}`,
      detail: { from: previous, via: 'api' },
    });
    return c.json({ status: 'success', version, previous });
  });
}
