import { PoError } from '@po/core';
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { except } from 'hono/combine';
import { errorResponse, httpError } from '../errors.ts';

/** Routes a load balancer and Prometheus reach without a token. */
export const OPEN_ROUTES = ['/health', '/metrics'];

/** RFC 6750's token syntax, which hono/bearer-auth accepts (any other token could never match). */
const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/-]+=*$/;

const REALM = 'Bearer realm="po"';

/**
 * `Authorization: Bearer <token>` on every route but `OPEN_ROUTES` (hono/bearer-auth compares in
 * constant time). A refusal is a 401 in the API's error shape with `WWW-Authenticate`, also for a
 * header that is not a bearer token at all.
 */
export function bearerToken(token: string): MiddlewareHandler {
  if (!TOKEN_SYNTAX.test(token)) {
    throw new PoError(
      'api',
      'TOKEN_INVALID',
      'the API token (PO_API_TOKEN) may only hold letters, digits and - . _ ~ + / (then = padding), as a bearer token does; choose one of those characters, e.g. `openssl rand -hex 32`',
    );
  }
  const refuse = (message: string) => (c: Context) => errorResponse(c, httpError.unauthorized(message));
  const missing = 'missing bearer token: send Authorization: Bearer <PO_API_TOKEN>';
  return except(
    OPEN_ROUTES,
    bearerAuth({
      token,
      noAuthenticationHeader: { message: refuse(missing), wwwAuthenticateHeader: REALM },
      // A header that is not `Bearer <token>` (e.g. `Basic ...`): no bearer token was sent.
      invalidAuthenticationHeader: {
        message: (c) =>
          refuse(/^Bearer\s+\S/i.test(c.req.header('authorization') ?? '') ? 'invalid token' : missing)(c),
        wwwAuthenticateHeader: REALM,
      },
      invalidToken: { message: refuse('invalid token'), wwwAuthenticateHeader: REALM },
    }),
  );
}
