import type { WebhookSinkConfig } from '../config/schema.js';
import { redactSecrets, safeUrl } from '../util/redact.js';
import type { Sink } from './dispatcher.js';
import type { SinkPayload } from './payload.js';
import { SIGNATURE_HEADER, signBody } from './signature.js';

/** Why a fetch failed, from its cause (ECONNREFUSED, timeout), never the URL or the secret. */
function why(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer within timeoutMs';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/**
 * Webhook sink: POSTs the payload as JSON, signed (signature.ts), and counts any 2xx as delivered.
 * Every other answer or a timeout is a failed try; the dispatcher retries it. Redirects are not
 * followed: a signed alert goes only where it was configured to.
 */
export class WebhookSink implements Sink {
  readonly type = 'webhook' as const;
  readonly id: string;
  readonly #cfg: WebhookSinkConfig;
  /** For logs: the URL with any credentials hidden. */
  readonly target: string;

  constructor(cfg: WebhookSinkConfig) {
    this.id = cfg.id;
    this.#cfg = cfg;
    this.target = safeUrl(cfg.url);
  }

  async deliver(p: SinkPayload): Promise<void> {
    const body = JSON.stringify(p);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'vigil-webhook/1',
      [SIGNATURE_HEADER]: signBody(this.#cfg.secret, body, Math.floor(Date.now() / 1000)),
    };
    if (p.kind === 'vigil.alert') {
      headers['vigil-event-id'] = p.id;
      headers['vigil-event-revision'] = String(p.revision);
    }
    let res: Response;
    try {
      res = await fetch(this.#cfg.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.#cfg.timeoutMs) });
    } catch (err) {
      throw new Error(`webhook ${this.target}: ${why(err)}`);
    }
    await res.body?.cancel().catch(() => undefined); // the answer's body is not needed: never buffer what a receiver sends
    if (res.status < 200 || res.status > 299) throw new Error(`webhook ${this.target}: HTTP ${res.status}`);
  }

  async close(): Promise<void> {}
}
