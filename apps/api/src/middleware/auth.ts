import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PoError } from '@po/core';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { errorResponse, httpError } from '../errors.ts';

/** Routes a load balancer, Prometheus and the login form reach without a token. */
export const OPEN_ROUTES = ['/health', '/metrics', '/login', '/assets/'];

/** What a user may do: read (viewer), also give feedback on recommendations (operator), also deploy (engineer). */
export type Role = 'viewer' | 'operator' | 'engineer';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'engineer'];

/** Who is asking: a named user, a role token (named after its role), or `anonymous` when no token is configured. */
export interface Identity {
  readonly name: string;
  readonly role: Role;
  /** How the request proved it: a bearer token, the dashboard's session cookie, or nothing (no token configured). */
  readonly via: 'bearer' | 'session' | 'anonymous';
}

/** Tokens and users of the HTTP layer (`api.*` settings). */
export interface AccessSettings {
  /** `PO_API_TOKEN`: the one token of earlier versions; it has the engineer's rights. */
  apiToken?: string | undefined;
  viewerToken?: string | undefined;
  operatorToken?: string | undefined;
  engineerToken?: string | undefined;
  /** Named users, each with a role and a token; the audit log names them. */
  users?: readonly { name: string; role: Role; token: string }[];
  /**
   * The role of a request without a token when no token is configured at all: `operator`
   * (read-only plus feedback, what a loopback bind gets) or `viewer`. Default `operator`.
   */
  anonymousRole?: 'viewer' | 'operator';
}

/** The resolved access rules of one app. */
export interface Access {
  /** Whether any token is configured (then every route but `OPEN_ROUTES` needs one). */
  readonly required: boolean;
  /** The identity a token stands for, or undefined. Constant time over every token. */
  byToken(token: string): Identity | undefined;
  /** The identity of a request without credentials: undefined when tokens are required. */
  readonly anonymous: Identity | undefined;
  /** Signs and reads the dashboard's session cookie value. */
  session: {
    issue(identity: Identity, maxAgeS: number): string;
    read(value: string | undefined): Identity | undefined;
  };
}

/** RFC 6750's token syntax (any other token could never be sent as a bearer token). */
const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/-]+=*$/;
export const SESSION_COOKIE = 'po_session';
const digest = (s: string) => createHash('sha256').update(s).digest();

/** Checks the settings and builds the token table; a token with characters a bearer token cannot carry is an error naming the setting. */
export function createAccess(settings: AccessSettings = {}): Access {
  const entries: { name: string; role: Role; token: string; setting: string }[] = [];
  const add = (token: string | undefined, name: string, role: Role, setting: string) => {
    if (token) entries.push({ name, role, token, setting });
  };
  add(settings.apiToken, 'engineer', 'engineer', 'the API token (PO_API_TOKEN)');
  add(settings.viewerToken, 'viewer', 'viewer', 'the viewer token (PO_VIEWER_TOKEN)');
  add(settings.operatorToken, 'operator', 'operator', 'the operator token (PO_OPERATOR_TOKEN)');
  add(settings.engineerToken, 'engineer', 'engineer', 'the engineer token (PO_ENGINEER_TOKEN)');
  for (const [i, u] of (settings.users ?? []).entries()) {
    add(u.token, u.name, u.role, `the token of user '${u.name}' (api.users[${i}])`);
  }
  for (const e of entries) {
    if (!TOKEN_SYNTAX.test(e.token)) {
      throw new PoError(
        'api',
        'TOKEN_INVALID',
        `${e.setting} may only hold letters, digits and - . _ ~ + / (then = padding), as a bearer token does; choose one of those characters, e.g. \`openssl rand -hex 32\``,
      );
    }
  }
  const hashed = entries.map((e) => ({ ...e, hash: digest(e.token) }));
  // Sessions are signed with a key derived from every token: replicas with the same settings
  // accept each other's cookies, and changing a token ends every session.
  const key = digest(`po-session\0${entries.map((e) => `${e.name}\0${e.role}\0${e.token}`).join('\0')}`);
  const sign = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');
  const required = entries.length > 0;
  return {
    required,
    byToken(token) {
      const h = digest(token);
      let found: (typeof hashed)[number] | undefined;
      for (const e of hashed) if (timingSafeEqual(e.hash, h) && !found) found = e;
      return found && { name: found.name, role: found.role, via: 'bearer' };
    },
    anonymous: required
      ? undefined
      : { name: 'anonymous', role: settings.anonymousRole ?? 'operator', via: 'anonymous' },
    session: {
      issue(identity, maxAgeS) {
        const payload = Buffer.from(
          JSON.stringify({
            n: identity.name,
            r: identity.role,
            e: Date.now() + maxAgeS * 1000,
            s: randomBytes(8).toString('hex'),
          }),
        ).toString('base64url');
        return `${payload}.${sign(payload)}`;
      },
      read(value) {
        if (!required || !value) return undefined;
        const [payload, mac] = value.split('.');
        if (!payload || !mac) return undefined;
        const expected = Buffer.from(sign(payload));
        const given = Buffer.from(mac);
        if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
        const body = JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
          n: string;
          r: Role;
          e: number;
        };
        if (!(body.e > Date.now()) || !ROLES.includes(body.r)) return undefined;
        return { name: body.n, role: body.r, via: 'session' };
      },
    },
  };
}

const REALM = 'Bearer realm="po"';
const MISSING = 'missing bearer token: send Authorization: Bearer <PO_API_TOKEN>';

/** The identity `authenticate` found for this request (undefined only on open routes without one). */
export function identityOf(c: Context): Identity | undefined {
  return c.get('identity' as never) as Identity | undefined;
}

/**
 * Resolves who is asking: `Authorization: Bearer <token>` (a wrong one is a 401 everywhere but
 * the open routes), else the dashboard's session cookie, else `anonymous` when no token is
 * configured. Without an identity where one is required: a browser asking for a page is sent to
 * `/login`, anything else gets the API's 401 with `WWW-Authenticate`.
 */
export function authenticate(access: Access, isPage: (path: string) => boolean): MiddlewareHandler {
  const refuse = (c: Context, message: string) => {
    c.header('WWW-Authenticate', REALM);
    return errorResponse(c, httpError.unauthorized(message));
  };
  return async (c, next) => {
    const open = OPEN_ROUTES.some((r) => (r.endsWith('/') ? c.req.path.startsWith(r) : c.req.path === r));
    const header = c.req.header('authorization');
    let identity: Identity | undefined;
    if (header !== undefined && access.required) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      identity = m?.[1] ? access.byToken(m[1]) : undefined;
      if (!identity && !open) return refuse(c, m ? 'invalid token' : MISSING);
    } else {
      identity = access.session.read(getCookie(c, SESSION_COOKIE)) ?? access.anonymous;
    }
    if (!identity && !open) {
      if (c.req.method === 'GET' && isPage(c.req.path)) {
        return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      return refuse(c, MISSING);
    }
    c.set('identity' as never, identity as never);
    await next();
  };
}

/** Refuses (403) a request whose identity's role is below `role`. */
export function requireRole(role: Role, what: string): MiddlewareHandler {
  return async (c, next) => {
    const who = identityOf(c);
    if (!who || ROLES.indexOf(who.role) < ROLES.indexOf(role)) {
      throw httpError.forbidden(
        `${what} needs the ${role} role; ${who ? `'${who.name}' is a ${who.role}` : 'no identity was given'}`,
      );
    }
    await next();
  };
}

/** Whether `who` has at least `role`. */
export function hasRole(who: Identity | undefined, role: Role): boolean {
  return who !== undefined && ROLES.indexOf(who.role) >= ROLES.indexOf(role);
}
