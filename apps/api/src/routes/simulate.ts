import type { PlantState } from '@po/rto-engine';
import { cycleResultSchema } from '@po/rto-engine';
import { Hono } from 'hono';
import type { Cycles } from '../cycles.ts';
import type { Operation } from '../openapi.ts';
import { readJson } from '../request.ts';
import { simulateRequestSchema } from '../schemas.ts';

export const simulateOperations: Operation[] = [
  {
    method: 'post',
    path: '/simulate',
    summary: 'What-if: evaluate the strategy at given decision values without optimizing.',
    tag: 'cycles',
    body: simulateRequestSchema,
    ok: { status: 200, description: 'The evaluation.', schema: cycleResultSchema },
    errors: [400, 401, 413, 422, 503, 504, 500],
  },
];

/** `POST /simulate`: evaluates given decision values (what-if), without optimizing. */
export function simulateRoutes(cycles: Cycles) {
  return new Hono().post('/', async (c) => {
    const body = await readJson(c, simulateRequestSchema, 'send {"input_data": {...}, "decisions": {...}}');
    return c.json(
      await cycles.simulate({
        state: body.input_data as PlantState,
        config: body.config,
        decisions: body.decisions,
        deadline: c.get('deadline'),
      }),
    );
  });
}
