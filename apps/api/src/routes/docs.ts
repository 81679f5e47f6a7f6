import { Hono } from 'hono';
import { docsPage } from '../docs.ts';
import { type Operation, openApiDocument } from '../openapi.ts';
import { API_VERSION } from '../version.ts';

export const docsOperations: Operation[] = [
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

/** `GET /openapi.json` and `GET /docs`, built once on first request. */
export function docsRoutes(operations: readonly Operation[], options: { tokenRequired: boolean }) {
  let openapi: Record<string, unknown> | undefined;
  let page: string | undefined;
  const document = () =>
    (openapi ??= openApiDocument(operations, { version: API_VERSION, tokenRequired: options.tokenRequired }));
  return new Hono()
    .get('/openapi.json', (c) => c.json(document()))
    .get('/docs', (c) => c.html((page ??= docsPage(document()))));
}
