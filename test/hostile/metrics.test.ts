import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { serveOps } from '../../src/metrics-http.js';
import { registry } from '../../src/metrics.js';

/**
 * Issue 12 item 8: /metrics and /healthz were open on the broadcast port. A scraper without the
 * token, or with it somewhere it leaks (the URL), gets nothing; /healthz tells a stranger only "ok".
 */
const TOKEN = 'metrics-token-0123456789';

describe('hostile scrapers', () => {
  it('without the token, with a wrong one, one of another length, or the token in the URL: 401 and no metric', async () => {
    const cfg = parseConfig({ metrics: { token: '{VIGIL_METRICS_TOKEN}', port: 0 } }, { VIGIL_METRICS_TOKEN: TOKEN });
    const ops = await serveOps(cfg.metrics.host, cfg.metrics.port!, { registry, token: cfg.metrics.token, healthy: () => true, details: () => ({ clients: 7, sent: 42 }) });
    try {
      const base = `http://127.0.0.1:${ops.port}`;
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer metrics-token-0123456780' }, { authorization: 'Bearer x' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
        const r = await fetch(`${base}/metrics`, { headers });
        expect(r.status).toBe(401);
        expect(await r.text()).not.toContain('vigil_');
      }
      expect((await fetch(`${base}/metrics?token=${TOKEN}`)).status).toBe(401);
      expect((await fetch(`${base}/metrics/?x=1`)).status).toBe(404);
      const h = await fetch(`${base}/healthz?verbose=1`);
      expect(await h.json()).toEqual({ ok: true });
      expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      await ops.close();
    }
  });
});
