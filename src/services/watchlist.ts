import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { SubjectRecord, WatchlistChange } from '../contracts/messages.js';
import { auditRequestOf } from '../audit/kafka.js';
import type { AuditEntry } from '../audit/log.js';
import type { Logger } from '../log.js';
import type { ListRecord } from '../matcher/lists.js';
import type { WatchlistStore } from '../matcher/watchlist.js';
import { loadManifest, resolveProfile } from '../models/manifest.js';

export type WatchlistEdit =
  | { readonly op: 'upsert'; readonly subject: SubjectRecord }
  | { readonly op: 'remove'; readonly id: string }
  /** a list's settings (priority, colour, operating point) */
  | { readonly op: 'list'; readonly list: ListRecord }
  /** every negative example of a subject for one embedding model (empty: none) */
  | { readonly op: 'negatives'; readonly subject: string; readonly model: string; readonly vectors: readonly ArrayLike<number>[] };

/** The message for an edit: subjects as v1 (older matchers read them), lists and negatives as v2. */
export function watchlistMessage(e: WatchlistEdit): WatchlistChange {
  switch (e.op) {
    case 'upsert':
      return { kind: 'watchlist', v: 1, op: 'upsert', subject: e.subject };
    case 'remove':
      return { kind: 'watchlist', v: 1, op: 'remove', id: e.id };
    case 'list':
      return { kind: 'watchlist', v: 2, op: 'list', list: { name: e.list.name, priority: e.list.priority, colour: e.list.colour, threshold: e.list.threshold, targetFpir: e.list.targetFpir } };
    case 'negatives':
      return { kind: 'watchlist', v: 2, op: 'negatives', subject: e.subject, model: e.model, vectors: e.vectors.map((v) => Array.from(v)) };
  }
}

/**
 * A removal also clears the subject's negative examples (of every profile's model: a few small
 * records): the compacted topic keeps the latest record per key, and without this an old set of
 * negatives would outlive the removal and apply to a later subject of the same id.
 */
function withClearedNegatives(edits: readonly WatchlistEdit[]): WatchlistEdit[] {
  const out: WatchlistEdit[] = [];
  let models: string[] | undefined;
  for (const e of edits) {
    out.push(e);
    if (e.op !== 'remove') continue;
    models ??= embeddingModels();
    for (const model of models) out.push({ op: 'negatives', subject: e.id, model, vectors: [] });
  }
  return out;
}

const embeddingModels = (): string[] => {
  const m = loadManifest();
  return [...new Set(Object.keys(m.profiles).map((name) => resolveProfile(m, name).embeddingModel))];
};

/** A whole local watchlist as edits: its lists, its subjects and their negative examples (`vigil publish-watchlist`). */
export function watchlistEdits(store: WatchlistStore): WatchlistEdit[] {
  const edits: WatchlistEdit[] = store.lists().map((list) => ({ op: 'list' as const, list }));
  for (const subject of store.list()) edits.push({ op: 'upsert', subject });
  for (const model of store.models()) {
    for (const [subject, vectors] of store.allNegatives(model)) edits.push({ op: 'negatives', subject, model, vectors });
  }
  return edits;
}

/**
 * In the distributed mode (bus.kafka set), a watchlist change made here (`vigil enroll`, `vigil
 * watchlist remove|reembed`) is also published to the log-compacted watchlist topic, which every
 * matcher replica follows. Returns how many were published (0: no Kafka configured). The local
 * store is written first: when the brokers do not answer within connectTimeoutSeconds, the error
 * says so and `vigil publish-watchlist` publishes it later.
 */
export async function publishWatchlist(cfg: Config, log: Logger, edits: readonly WatchlistEdit[], audit?: AuditEntry): Promise<number> {
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
    for (const e of withClearedNegatives(edits)) await bus.publish('watchlist', watchlistMessage(e));
    // The change also goes into the distributed audit log (its one writer chains it; README "Audits").
    if (audit) await bus.publish('audit-requests', auditRequestOf(audit));
    return edits.length;
  } finally {
    await bus.close();
  }
}

/** One line for the CLI after a change was published (nothing when Kafka is not configured). */
export async function announceWatchlist(cfg: Config, log: Logger, edits: readonly WatchlistEdit[], out: (line: string) => void, audit?: AuditEntry): Promise<void> {
  const n = await publishWatchlist(cfg, log, edits, audit);
  if (n) out(`published ${n} watchlist change(s) to ${cfg.bus.kafka!.topicPrefix}watchlist (the matcher replicas follow it)${audit ? ` and the audit record to ${cfg.bus.kafka!.topicPrefix}audit-requests` : ''}`);
}
