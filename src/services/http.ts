import { serveOps } from '../metrics-http.js';
import { registry } from '../metrics.js';

/**
 * A service's own small HTTP endpoint: GET /metrics (Prometheus text, Vigil's process-wide
 * registry (src/metrics.ts): consumer lag, published, dead-lettered, ...) and GET /healthz (JSON state).
 */
export async function serveMetrics(host: string, port: number, health: () => Record<string, unknown>, token?: string): Promise<{ port: number; close(): Promise<void> }> {
  return serveOps(host, port, { registry, token, healthy: () => true, details: health });
}
