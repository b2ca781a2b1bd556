import type { ApiRoute } from '../broadcast/routes.js';
import { readAudit, verifyAudit } from './log.js';

/**
 * The audit log over HTTP (admin only): `GET /api/audit?action=&actor=&since=&limit=` (newest last)
 * and `GET /api/audit/verify`. Mounted by the broadcast server's router with the other features' routes.
 */
export function auditRoutes(dataDir: string): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/api/audit',
      role: 'admin',
      handle(req) {
        const q = req.query;
        const recs = readAudit(dataDir, { action: q.get('action') ?? undefined, actor: q.get('actor') ?? undefined, since: q.get('since') ?? undefined });
        const limit = Math.min(Math.max(Number(q.get('limit') ?? 500) || 500, 1), 5000);
        return { status: 200, body: { records: recs.slice(-limit), total: recs.length } };
      },
    },
    {
      method: 'GET',
      path: '/api/audit/verify',
      role: 'admin',
      handle() {
        const r = verifyAudit(dataDir);
        return { status: r.ok ? 200 : 409, body: r };
      },
    },
  ];
}
