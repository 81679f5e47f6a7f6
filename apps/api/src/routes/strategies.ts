import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import type { CycleExecutor, StrategyBundle } from '../pool/index.ts';
import { isRecord, parseJson } from '../request.ts';
import {
  type DeployedResponse,
  deployedResponseSchema,
  strategyInputSchema,
  validationResponseSchema,
} from '../schemas.ts';
import type { Deployed, StrategyInput } from '../strategy-sources.ts';
import type { StrategySource } from '../types.ts';

export const strategiesOperations: Operation[] = [
  {
    method: 'post',
    path: '/strategies/validate',
    summary: 'Validate a strategy (YAML text or JSON); models are loaded when the API has a models folder.',
    tag: 'strategies',
    body: strategyInputSchema,
    yamlBody: true,
    ok: { status: 200, description: 'Every error and warning.', schema: validationResponseSchema },
    errors: [400, 401, 413, 500],
  },
  {
    method: 'get',
    path: '/strategies/deployed',
    summary: 'The deployed strategy: version, decision variables, warnings, model files with checksums.',
    tag: 'strategies',
    ok: { status: 200, description: 'The deployed strategy.', schema: deployedResponseSchema },
    errors: [401, 503],
  },
];

export interface StrategiesRoutesOptions {
  strategies: StrategySource;
  deployed: () => Promise<Deployed>;
  requestBundle: (config: StrategyInput) => Promise<StrategyBundle>;
  executor: CycleExecutor;
  /** Whether validation loads the models (the API can read model files). */
  withModels: boolean;
}

/** `POST /strategies/validate` and `GET /strategies/deployed`. */
export function strategiesRoutes(options: StrategiesRoutesOptions) {
  const { strategies, deployed, requestBundle, executor, withModels } = options;
  return new Hono()
    .post('/validate', async (c) => {
      const text = await c.req.text();
      if (text.trim() === '') {
        throw httpError.badRequest('request body is empty; send the strategy as YAML text or JSON');
      }
      const config = /json/i.test(c.req.header('content-type') ?? '')
        ? strategyInJson(parseJson(text))
        : text;
      const bundle = await requestBundle(config);
      return c.json(await executor.run({ kind: 'validate', bundle, models: withModels }));
    })
    .get('/deployed', async (c) => {
      const { version, strategy } = await deployed();
      const status = strategies.status();
      const body: DeployedResponse = {
        status: 'success',
        version,
        decision_variables: [...strategy.decisionVariables],
        warnings: [...strategy.warnings],
        model_files: [...strategy.modelFiles],
        source: status.source ?? null,
        loaded_at: status.loadedAt ?? null,
      };
      return c.json(body);
    });
}

/** `{ "config": ... }` as in /optimize, or the strategy itself. */
function strategyInJson(parsed: unknown): StrategyInput {
  return isRecord(parsed) && 'config' in parsed && !('variables' in parsed)
    ? (parsed.config as StrategyInput)
    : (parsed as Record<string, unknown>);
}
