import type { PlantState } from '@po/rto-engine';
import { cycleResultSchema } from '@po/rto-engine';
import { Hono } from 'hono';
import type { Cycles } from '../cycles.ts';
import type { Operation } from '../openapi.ts';
import { readJson } from '../request.ts';
import { optimizeRequestSchema } from '../schemas.ts';

export const optimizeOperations: Operation[] = [
  {
    method: 'post',
    path: '/optimize',
    summary: 'Recommend setpoints for a plant state (deployed strategy, or the one in `config`).',
    tag: 'cycles',
    body: optimizeRequestSchema,
    ok: { status: 200, description: 'The recommendation.', schema: cycleResultSchema },
    errors: [400, 401, 413, 422, 503, 504, 500],
  },
];

/** `POST /optimize` (the predecessor's route): recommends setpoints. */
export function optimizeRoutes(cycles: Cycles) {
  return new Hono().post('/', async (c) => {
    const body = await readJson(
      c,
      optimizeRequestSchema,
      'send {"input_data": {...}} (and optionally "config")',
    );
    return c.json(
      await cycles.optimize({
        state: body.input_data as PlantState,
        config: body.config,
        deadline: c.get('deadline'),
      }),
    );
  });
}
