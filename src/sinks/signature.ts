import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe's scheme: `Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" with the sink's secret>`. The timestamp is inside the MAC, so a receiver that
 * rejects old timestamps also rejects a replayed request. README "Webhooks" shows the check.
 */
export const SIGNATURE_HEADER = 'vigil-signature';

export function signBody(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

/** A receiver's check: a well-formed header, a timestamp within `toleranceS` of now, and a matching MAC (constant time). */
export function verifySignature(header: string | undefined, body: string, secret: string, toleranceS = 300, nowS = Math.floor(Date.now() / 1000)): SignatureCheck {
  const parts = new Map((header ?? '').split(',').map((kv) => kv.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowS - t) > toleranceS) return { ok: false, reason: 'stale' };
  const want = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return timingSafeEqual(want, Buffer.from(v1)) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
