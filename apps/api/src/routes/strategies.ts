import { checkStrategyText, isLimitIssue, type StrategyIssue, type StrategyLimits } from '@po/rto-engine';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import type { CycleExecutor } from '../pool/index.ts';
import { isRecord, parseJson, type RefusedBodyDrain, readBodyText, refuseDeepJson } from '../request.ts';
import {
  type DeployedResponse,
  deployedResponseSchema,
  strategyInputSchema,
  validationResponseSchema,
} from '../schemas.ts';
import type { Deployed, RequestBundle, StrategyInput } from '../strategy-sources.ts';
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
  requestBundle: RequestBundle;
  executor: CycleExecutor;
  /** Bounds on a strategy; one past them is refused (400 LIMIT_EXCEEDED), not reported as invalid. */
  limits: StrategyLimits;
  /** Whether validation loads the models (the API can read model files). */
  withModels: boolean;
  /** Largest request body, bytes (`api.body_limit_bytes`). */
  maxBodyBytes: number;
  /** The app's drain of the unread rest of a refused body. */
  drain: RefusedBodyDrain;
}

/** `POST /strategies/validate` and `GET /strategies/deployed`. */
export function strategiesRoutes(options: StrategiesRoutesOptions) {
  const { strategies, deployed, requestBundle, executor, limits, withModels, maxBodyBytes, drain } = options;
  return new Hono()
    .post('/validate', async (c) => {
      const json = /json/i.test(c.req.header('content-type') ?? '');
      // Size and nesting first, on this thread (linear, never recursive), on each growing prefix
      // as the body arrives: a hostile body is refused from its first kilobytes. Parsing is the pool's.
      const checkText = json
        ? (prefix: string) => refuseDeepJson(c, prefix)
        : (prefix: string) => refuseOverLimits(checkStrategyText(prefix, limits));
      const text = await readBodyText(c, maxBodyBytes, checkText, drain);
      if (text.trim() === '') {
        throw httpError.badRequest('request body is empty; send the strategy as YAML text or JSON');
      }
      if (!json) checkText(text);
      const config = json ? strategyInJson(parseJson(c, text)) : text;
      const signal = c.get('deadline');
      const bundle = await requestBundle(config, signal);
      const report = await executor.run({ kind: 'validate', bundle, models: withModels }, { signal });
      refuseOverLimits(report.errors);
      return c.json(report);
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

/** A strategy past a bound is refused (400 LIMIT_EXCEEDED naming it), not validated. */
function refuseOverLimits(issues: readonly StrategyIssue[]): void {
  const over = issues.filter(isLimitIssue);
  if (over.length > 0) throw httpError.limitExceeded(`strategy refused: ${over[0]!.message}`, over);
}

/** `{ "config": ... }` as in /optimize, or the strategy itself. */
function strategyInJson(parsed: unknown): StrategyInput {
  return isRecord(parsed) && 'config' in parsed && !('variables' in parsed)
    ? (parsed.config as StrategyInput)
    : (parsed as Record<string, unknown>);
}
