import type { IncomingMessage, ServerResponse } from 'node:http';
import { isVigilError, VigilError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { roles, type Actor, type ApiRoute, type ApiResponse, type Role } from './routes.js';
import type { Tokens } from './token.js';

/** Token from `Authorization: Bearer <t>` or `?token=<t>` (browsers cannot set headers on a WebSocket). */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const url = new URL(req.url ?? '/', 'http://x');
  return url.searchParams.get('token') ?? undefined;
}

export const allows = (have: Role, need: Role): boolean => roles.indexOf(have) >= roles.indexOf(need);

/** HTTP status of an error code; any other VigilError is the caller's fault (400), anything else ours (500). */
const statusOf: Partial<Record<ErrorCode, number>> = {
  VIGIL_ERR_API_UNAUTHORIZED: 401,
  VIGIL_ERR_API_FORBIDDEN: 403,
  VIGIL_ERR_API_NOT_FOUND: 404,
  VIGIL_ERR_WATCHLIST_UNKNOWN: 404,
  VIGIL_ERR_ENROLL_NO_FACE: 422,
  VIGIL_ERR_ENROLL_MANY_FACES: 422,
  VIGIL_ERR_IMAGE_DECODE: 422,
  VIGIL_ERR_SINK_UNKNOWN: 404,
  VIGIL_ERR_VISITOR_UNKNOWN: 404,
};

export function errorBody(e: VigilError): { error: { code: string; message: string; hint: string } } {
  return { error: { code: e.code, message: e.message, hint: e.hint } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

interface Compiled {
  readonly route: ApiRoute;
  readonly re: RegExp;
  readonly names: readonly string[];
}

function compile(route: ApiRoute): Compiled {
  const names: string[] = [];
  const re = new RegExp(
    `^${route.path
      .split('/')
      .map((seg) => {
        if (!seg.startsWith(':')) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(seg.slice(1));
        return '([^/]+)';
      })
      .join('/')}$`,
  );
  return { route, re, names };
}

export interface RouterOptions {
  readonly tokens: Tokens;
  /** Largest request body, bytes (photo uploads arrive base64 in JSON). */
  readonly maxBodyBytes: number;
  readonly log: Logger;
}

async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `body larger than ${max} bytes` });
    chunks.push(c);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (err) {
    throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `body is not JSON (${(err as Error).message})` });
  }
}

/**
 * The HTTP API router: mounts every feature's `ApiRoute[]`, matches method and path, authenticates
 * the token, checks the route's least role, parses JSON bodies with a size limit and turns errors
 * into `{"error": {code, message, hint}}` with 400/401/403/404/405/500. Returns false for paths
 * outside /api/ so the server can serve the console, /healthz and /metrics.
 */
export function createRouter(routeSets: readonly (readonly ApiRoute[])[], o: RouterOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const compiled = routeSets.flat().map(compile);
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api' && !url.pathname.startsWith('/api/')) return false;
    const method = req.method ?? 'GET';
    try {
      const onPath = compiled.map((c) => ({ c, m: c.re.exec(url.pathname) })).filter((x) => x.m);
      if (onPath.length === 0) throw new VigilError('VIGIL_ERR_API_NOT_FOUND', { what: `route ${url.pathname}` });
      const hit = onPath.find((x) => x.c.route.method === method);
      if (!hit) {
        const allow = onPath.map((x) => x.c.route.method).join(', ');
        sendJson(res, 405, errorBody(new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `${method} is not allowed on ${url.pathname} (allowed: ${allow})` })), { allow });
        return true;
      }
      const { route, names } = hit.c;
      const token = presentedToken(req);
      const actor: Actor | undefined = o.tokens.actorOf(token);
      if (!actor) throw new VigilError('VIGIL_ERR_API_UNAUTHORIZED', { reason: token ? 'the token is not known to this server' : 'no token was presented' });
      if (!allows(actor.role, route.role)) throw new VigilError('VIGIL_ERR_API_FORBIDDEN', { method, path: route.path, needed: route.role, role: actor.role });
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(hit.m![i + 1]!);
        } catch {
          throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `path parameter ${n} is not valid URL encoding` });
        }
      });
      const body = method === 'GET' || method === 'DELETE' ? undefined : await readBody(req, o.maxBodyBytes);
      const r: ApiResponse = await route.handle({ method, params, query: url.searchParams, body, actor });
      if (method !== 'GET') o.log.info({ actor: actor.name, method, path: url.pathname, status: r.status }, 'api write');
      if (r.raw) res.writeHead(r.status, { 'content-type': r.raw.contentType, 'cache-control': 'no-store', ...r.headers }).end(r.raw.data);
      else sendJson(res, r.status, r.body ?? null, r.headers);
    } catch (err) {
      if (isVigilError(err)) {
        sendJson(res, statusOf[err.code] ?? 400, errorBody(err));
      } else {
        o.log.error({ err: (err as Error).message, method, path: url.pathname }, 'api handler failed');
        sendJson(res, 500, errorBody(new VigilError('VIGIL_ERR_API_INTERNAL')));
      }
    }
    return true;
  };
}
