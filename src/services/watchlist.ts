import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { SubjectRecord, WatchlistChange } from '../contracts/messages.js';
import type { Logger } from '../log.js';

export type WatchlistEdit = { readonly op: 'upsert'; readonly subject: SubjectRecord } | { readonly op: 'remove'; readonly id: string };

/**
 * In the distributed mode (bus.kafka set), a watchlist change made here (`vigil enroll`, `vigil
 * watchlist remove|reembed`) is also published to the log-compacted watchlist topic, which every
 * matcher replica follows. Returns how many were published (0: no Kafka configured). The local
 * store is written first: when the brokers do not answer within connectTimeoutSeconds, the error
 * says so and `vigil publish-watchlist` publishes it later.
 */
export async function publishWatchlist(cfg: Config, log: Logger, edits: readonly WatchlistEdit[]): Promise<number> {
  const k = cfg.bus.kafka;
  if (!k || edits.length === 0) return 0;
  const bus = new KafkaBus({
    kafka: k,
    log: log.child({ component: 'kafka' }),
    giveUpAfterMs: k.connectTimeoutSeconds * 1000,
    unavailableHint: 'the change is stored locally; run `vigil publish-watchlist` once the brokers answer',
  });
  try {
    await bus.start();
    for (const e of edits) {
      const change: WatchlistChange = e.op === 'upsert' ? { kind: 'watchlist', v: 1, op: 'upsert', subject: e.subject } : { kind: 'watchlist', v: 1, op: 'remove', id: e.id };
      await bus.publish('watchlist', change);
    }
    return edits.length;
  } finally {
    await bus.close();
  }
}

/** One line for the CLI after a change was published (nothing when Kafka is not configured). */
export async function announceWatchlist(cfg: Config, log: Logger, edits: readonly WatchlistEdit[], out: (line: string) => void): Promise<void> {
  const n = await publishWatchlist(cfg, log, edits);
  if (n) out(`published ${n} watchlist change(s) to ${cfg.bus.kafka!.topicPrefix}watchlist (the matcher replicas follow it)`);
}
