/**
 * The OpenAPI 3.1 document, generated from the operations each route module declares next to its
 * handlers and from the same zod schemas that validate the requests (`z.toJSONSchema`).
 */
import { z } from 'zod';
import { errorResponseSchema } from './schemas.ts';

/** One route as the OpenAPI document describes it. */
export interface Operation {
  method: 'get' | 'post';
  /** The OpenAPI path (`/results/{id}`); path parameters are read from it. */
  path: string;
  summary: string;
  tag: 'cycles' | 'strategies' | 'results' | 'replays' | 'operations';
  body?: z.ZodType;
  /** Whether the body may be left out. Default false. */
  bodyOptional?: boolean;
  /** The body may also be YAML text. */
  yamlBody?: boolean;
  query?: z.ZodObject;
  ok: { status: 200 | 201 | 202; description: string; schema?: z.ZodType; text?: 'text/plain' | 'text/html' };
  /** Error statuses the route answers (see `ERRORS`). */
  errors: ErrorStatus[];
  /** Never needs the token. */
  open?: boolean;
}

const ERRORS = {
  400: 'Malformed body, invalid strategy (every problem in `details`) or missing input variables (named).',
  401: 'Missing or wrong bearer token.',
  404: 'No such result or replay.',
  403: "The token's role may not do this (feedback needs operator, deploy needs engineer).",
  409: 'A replay is already running.',
  413: 'Body over the size limit.',
  422: 'The optimizer could not compute a recommendation for this state.',
  501: 'No results store (or replays) configured.',
  503: 'No strategy deployed or loaded, or the store is unreachable.',
  504: 'The request overran its time limit.',
  500: 'Unexpected error (no details are given; see the server log).',
} as const;

type ErrorStatus = keyof typeof ERRORS;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** `post /results/{id}/feedback` -> `postResultsIdFeedback`. */
function operationId(op: Operation): string {
  return `${op.method}${op.path.replace(/[{}]/g, '').replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`;
}

function parameters(op: Operation): Record<string, unknown>[] {
  return [
    ...[...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
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
}

function responses(op: Operation): Record<string, unknown> {
  const ok = op.ok;
  const out: Record<string, unknown> = {
    [ok.status]: {
      description: ok.description,
      content: ok.text
        ? { [ok.text]: { schema: { type: 'string' } } }
        : {
            'application/json': { schema: ok.schema ? jsonSchema(ok.schema, 'output') : { type: 'object' } },
          },
    },
  };
  for (const status of op.errors) {
    out[status] = {
      description: ERRORS[status],
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return out;
}

function operationObject(op: Operation, tokenRequired: boolean): Record<string, unknown> {
  const params = parameters(op);
  return {
    summary: op.summary,
    tags: [op.tag],
    operationId: operationId(op),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: !op.bodyOptional,
            content: {
              'application/json': { schema: jsonSchema(op.body, 'input') },
              ...(op.yamlBody ? { 'application/yaml': { schema: { type: 'string' } } } : {}),
            },
          },
        }
      : {}),
    ...(op.open || !tokenRequired ? { security: [] } : {}),
    responses: responses(op),
  };
}

/** The OpenAPI 3.1 document of these operations. */
export function openApiDocument(
  operations: readonly Operation[],
  info: { version: string; tokenRequired: boolean },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    paths[op.path] ??= {};
    paths[op.path]![op.method] = operationObject(op, info.tokenRequired);
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
