import { z } from 'zod';
import {
  cacheClearRequestSchema,
  cycleResultSchema,
  errorResponseSchema,
  feedbackRequestSchema,
  optimizeRequestSchema,
  resultsQuerySchema,
  simulateRequestSchema,
  strategyInputSchema,
  validationResponseSchema,
} from './schemas.ts';

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  /** Other request media types (the schema of each is a string). */
  textBody?: boolean;
  query?: z.ZodObject;
  pathParams?: string[];
  ok: { status: number; description: string; schema?: z.ZodType; text?: string };
  errors: number[];
  open?: boolean;
}

const ERRORS: Record<number, string> = {
  400: 'Malformed body, invalid strategy (every problem in `details`) or missing input variables (named).',
  401: 'Missing or wrong bearer token.',
  404: 'No such result.',
  413: 'Body over the size limit.',
  422: 'The optimizer could not compute a recommendation for this state.',
  501: 'No results store configured.',
  503: 'No strategy deployed or loaded, or the store is unreachable.',
  504: 'The request overran its time limit.',
  500: 'Unexpected error (no details are given; see the server log).',
};

const operations: Operation[] = [
  {
    method: 'post',
    path: '/optimize',
    summary: 'Recommend setpoints for a plant state (deployed strategy, or the one in `config`).',
    tag: 'cycles',
    body: optimizeRequestSchema,
    ok: { status: 200, description: 'The recommendation.', schema: cycleResultSchema },
    errors: [400, 401, 413, 422, 503, 504, 500],
  },
  {
    method: 'post',
    path: '/simulate',
    summary: 'What-if: evaluate the strategy at given decision values without optimizing.',
    tag: 'cycles',
    body: simulateRequestSchema,
    ok: { status: 200, description: 'The evaluation.', schema: cycleResultSchema },
    errors: [400, 401, 413, 422, 503, 504, 500],
  },
  {
    method: 'post',
    path: '/strategies/validate',
    summary: 'Validate a strategy (YAML text or JSON); models are loaded when the API has a models folder.',
    tag: 'strategies',
    body: strategyInputSchema,
    textBody: true,
    ok: { status: 200, description: 'Every error and warning.', schema: validationResponseSchema },
    errors: [400, 401, 413, 500],
  },
  {
    method: 'get',
    path: '/strategies/deployed',
    summary: 'The deployed strategy: version, decision variables, warnings, model files with checksums.',
    tag: 'strategies',
    ok: { status: 200, description: 'The deployed strategy.' },
    errors: [401, 503],
  },
  {
    method: 'get',
    path: '/results',
    summary: 'Recent stored results, newest first.',
    tag: 'results',
    query: resultsQuerySchema,
    ok: { status: 200, description: '`{ status, results }`.' },
    errors: [400, 401, 501, 503],
  },
  {
    method: 'get',
    path: '/results/{id}',
    summary: 'One stored result.',
    tag: 'results',
    pathParams: ['id'],
    ok: { status: 200, description: '`{ status, result }`.' },
    errors: [401, 404, 501, 503],
  },
  {
    method: 'post',
    path: '/results/{id}/feedback',
    summary: 'Record what the operator did with a recommendation.',
    tag: 'results',
    pathParams: ['id'],
    body: feedbackRequestSchema,
    ok: { status: 201, description: '`{ status, feedback }`.' },
    errors: [400, 401, 404, 501, 503],
  },
  {
    method: 'get',
    path: '/health',
    summary: 'Liveness and readiness: ok or degraded, with reasons. Never needs a token.',
    tag: 'operations',
    ok: { status: 200, description: 'Health report.' },
    errors: [],
    open: true,
  },
  {
    method: 'get',
    path: '/cache/stats',
    summary: 'Artifact cache counters (the predecessor’s passthrough).',
    tag: 'operations',
    ok: { status: 200, description: 'Cache statistics.' },
    errors: [401],
  },
  {
    method: 'post',
    path: '/cache/clear',
    summary: 'Clear the artifact cache (one kind, or all).',
    tag: 'operations',
    body: cacheClearRequestSchema,
    ok: { status: 200, description: '`{ status: "success", message }`.' },
    errors: [401],
  },
  {
    method: 'post',
    path: '/cache/cleanup',
    summary: 'Drop expired cache entries.',
    tag: 'operations',
    ok: { status: 200, description: '`{ status: "success", message }`.' },
    errors: [401],
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics. Never needs a token.',
    tag: 'operations',
    ok: { status: 200, description: 'Prometheus text format.', text: 'text/plain' },
    errors: [],
    open: true,
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document.',
    tag: 'operations',
    ok: { status: 200, description: 'OpenAPI 3.1 document.' },
    errors: [401],
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'Interactive documentation (works offline).',
    tag: 'operations',
    ok: { status: 200, description: 'HTML page.', text: 'text/html' },
    errors: [401],
  },
];

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate the requests. */
export function openApiDocument(info: { version: string; tokenRequired: boolean }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters = [
      ...(op.pathParams ?? []).map((name) => ({
        name,
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...Object.entries(op.query?.shape ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        description: (schema as z.ZodType).description,
        schema: jsonSchema(schema as z.ZodType, 'input'),
      })),
    ];
    const responses: Record<string, unknown> = {
      [op.ok.status]: {
        description: op.ok.description,
        content: op.ok.text
          ? { [op.ok.text]: { schema: { type: 'string' } } }
          : {
              'application/json': {
                schema: op.ok.schema ? jsonSchema(op.ok.schema, 'output') : { type: 'object' },
              },
            },
      },
    };
    for (const status of op.errors) {
      responses[status] = {
        description: ERRORS[status],
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      tags: [op.tag],
      operationId: `${op.method}${op.path.replace(/[{}]/g, '').replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: op.path !== '/cache/clear',
              content: {
                'application/json': { schema: jsonSchema(op.body, 'input') },
                ...(op.textBody ? { 'application/yaml': { schema: { type: 'string' } } } : {}),
              },
            },
          }
        : {}),
      ...(op.open || !info.tokenRequired ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'po API',
      version: info.version,
      description:
        'po real-time optimization: on-demand recommendations, what-if simulation, strategy validation, results and operations. Compatible with the predecessor’s `POST /optimize`, `GET /health`, `GET /cache/stats` and `POST /cache/clear`.',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorResponseSchema, 'output') },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    ...(info.tokenRequired ? { security: [{ bearer: [] }] } : {}),
  };
}
