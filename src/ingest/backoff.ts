/** Restart delays: exponential from `initialMs`, capped at `maxMs`, with +-20% jitter so that many
 * cameras behind one failed switch do not all reconnect in the same instant. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** growth per failure in a row; 2 unless told */
  readonly factor?: number;
  /** share of the delay randomised either way; 0.2 unless told */
  readonly jitter?: number;
}

/** Delay before restart number `attempt` (0 = the first after a failure). `random` in [0, 1). */
export function backoffDelay(attempt: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(p.maxMs, p.initialMs * (p.factor ?? 2) ** Math.max(0, attempt));
  const j = p.jitter ?? 0.2;
  return Math.round(Math.min(p.maxMs, base * (1 - j + 2 * j * random())));
}
