import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * GET /metrics and GET /healthz, for the broadcast server, the stage services and the own metrics
 * listener (config `metrics`). /metrics needs `Authorization: Bearer <metrics.token>` when a token is
 * set (Prometheus: `authorization: {credentials: ...}`). /healthz stays open for load balancers;
 * with a token set it says only whether the process is up, and its details (client and message
 * counts: no more than /metrics tells) only to a caller presenting the token (issue 12).
 */
export interface OpsEndpoints {
  readonly registry: Registry;
  readonly token?: string;
  /** false: /metrics is served elsewhere (metrics.port), answer 404 here. */
  readonly metrics: boolean;
  readonly healthy: () => boolean;
  /** Counters shown at /healthz: to everyone without a token, only with it when one is set. */
  readonly details?: () => Record<string, unknown>;
}

function bearer(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Answers /metrics and /healthz; false for any other path (the caller goes on). */
export function handleOps(req: IncomingMessage, res: ServerResponse, o: OpsEndpoints): boolean {
  const path = (req.url ?? '/').split('?', 1)[0];
  const authorised = (): boolean => {
    const t = bearer(req);
    return o.token === undefined || (t !== undefined && sameSecret(t, o.token));
  };
  if (path === '/healthz') {
    const ok = o.healthy();
    const body = { ...(o.details && authorised() ? o.details() : {}), ok };
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    return true;
  }
  if (path !== '/metrics' || !o.metrics) return false;
  if (o.token !== undefined) {
    if (!authorised()) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="vigil-metrics"' }).end();
      return true;
    }
  }
  o.registry.metrics().then(
    (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
    (e: Error) => res.writeHead(500).end(e.message),
  );
  return true;
}

/** The own /metrics (+ /healthz) listener of config `metrics.port`. */
export async function serveOps(host: string, port: number, o: Omit<OpsEndpoints, 'metrics'>): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (!handleOps(req, res, { ...o, metrics: true })) res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
