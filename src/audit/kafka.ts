import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { KafkaBus } from '../bus/kafka.js';
import { createKafkaClient, type InMessage, type KafkaClient, type OutMessage, type TopicSpec } from '../bus/kafka-client.js';
import type { Config, KafkaConfig } from '../config/schema.js';
import type { Bus } from '../contracts/bus.js';
import type { AuditRequestMsg } from '../contracts/messages.js';
import { isVigilError, VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RunningService } from '../services/service.js';
import { kafkaConfigOf } from '../services/kafka-config.js';
import { canonicalJson } from './canonical.js';
import { auditFiles, chainRecord, checkEntry, filterAudit, signCheckpoint, signingKey, verifyChain, withoutReserved, type AuditEntry, type AuditFilter, type AuditRecord, type VerifyResult } from './log.js';

/**
 * The distributed mode's audit log: the Kafka topic `<prefix>audit`, one partition, kept forever,
 * written by one writer (`vigil audit-writer`). Services send operator and admin actions to the
 * single-partition topic `audit-requests`; the writer, the one member of its consumer group that
 * owns that partition, chains them with the file log's hash chain (src/audit/log.ts) and appends
 * each batch together with an Ed25519-signed checkpoint of it as one Kafka transaction (readers,
 * read_committed, see all of it or none). The transactional id is the writer's fence: the owner
 * registers it before its first batch, which fences off an earlier writer that lost the partition
 * without noticing (its next transaction fails, and it stops). A record is message key "record",
 * a checkpoint key "checkpoint".
 *
 * Since the one writer signs every batch it appends, any record not covered by a checkpoint was
 * produced by someone else: verification here is stricter than the file log's.
 */

export const auditTopicOf = (k: KafkaConfig): string => `${k.topicPrefix}audit`;

const RECORD = 'record';
const CHECKPOINT = 'checkpoint';

function auditTopicSpec(k: KafkaConfig): TopicSpec {
  return {
    name: auditTopicOf(k),
    partitions: 1,
    replicationFactor: k.replicationFactor,
    // Evidence: never deleted by time or size, never compacted.
    config: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1', 'max.message.bytes': String(k.maxMessageBytes) },
  };
}

export const kafkaClientOf = (k: KafkaConfig, log: Logger): KafkaClient => createKafkaClient({ brokers: k.brokers, clientId: k.clientId, log, security: { ssl: k.ssl, sasl: k.sasl } });

/** The audit topic as read: its record and checkpoint lines in order, and the offset after the last message. */
export interface AuditTopic {
  readonly topic: string;
  readonly records: string[];
  readonly checkpoints: string[];
  /** offset of the first message still on the topic (0 unless something deleted the start) */
  readonly low: bigint;
  readonly end: bigint;
}

/** Reads the whole audit topic (a throwaway reader group; nothing committed). */
export async function readAuditTopic(client: KafkaClient, k: KafkaConfig, timeoutMs = 30_000): Promise<AuditTopic> {
  const topic = auditTopicOf(k);
  await client.ensureTopics([auditTopicSpec(k)]);
  const range = (await client.topicOffsets(topic)).find((r) => r.partition === 0) ?? { low: 0n, high: 0n };
  const records: string[] = [];
  const checkpoints: string[] = [];
  if (range.high > range.low) {
    const got: InMessage[] = [];
    const c = client.consumer({ groupId: `${k.topicPrefix}audit-reader-${randomUUID()}`, topic, fromBeginning: true, sessionTimeoutMs: k.sessionTimeoutMs, heartbeatIntervalMs: k.heartbeatIntervalMs, maxBytesPerPartition: 16 << 20 });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await c.start({
      onBatch: async (b, ctl) => {
        got.push(...b.messages);
        const last = b.messages.at(-1);
        if (last) ctl.resolve(last.offset);
      },
      // The last offset is a transaction's commit marker, which onBatch never sees: progress does.
      onProgress: (_p, lastOffset) => {
        if (BigInt(lastOffset) + 1n >= range.high) done();
      },
      onAssigned: () => {},
      onFatal: () => {},
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([finished, new Promise((_r, j) => (timer = setTimeout(() => j(new VigilError('VIGIL_ERR_KAFKA_UNAVAILABLE', { brokers: k.brokers.join(','), seconds: Math.round(timeoutMs / 1000), operation: `reading ${topic}`, reason: `${got.length} of ${range.high - range.low} message(s) read`, then: 'try again' })), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
      await c.stop();
    }
    for (const m of got) {
      if (BigInt(m.offset) >= range.high) break;
      (m.key === CHECKPOINT ? checkpoints : records).push(m.value?.toString('utf8') ?? '');
    }
  }
  return { topic, records, checkpoints, low: range.low, end: range.high };
}

/**
 * The file log's checks (chain, sequence, signatures, checkpoints against the chain) on the topic,
 * plus: the topic must start at offset 0 (nothing deleted) and every record must be covered by a
 * signed checkpoint (the writer signs each batch it appends).
 */
export function verifyAuditTopic(t: AuditTopic, keyFile: string): VerifyResult {
  if (t.low > 0n) return { ok: false, records: t.records.length, record: 0, line: 1, reason: `the topic starts at offset ${t.low}: earlier records were deleted` };
  const r = verifyChain(t.records, false, t.checkpoints, keyFile);
  if (r.ok && r.signedUpTo < r.records) {
    return { ok: false, records: r.records, record: r.signedUpTo, line: r.signedUpTo + 1, reason: 'not covered by a signed checkpoint: the audit writer signs every batch it appends, so this record was produced to the topic by someone else' };
  }
  return r;
}

/** `vigil audit verify --kafka` and `vigil audit show --kafka`. */
export async function withAuditTopic<T>(cfg: Config, log: Logger, fn: (t: AuditTopic) => T): Promise<T> {
  const k = kafkaConfigOf(cfg, 'audit --kafka');
  const client = kafkaClientOf(k, log);
  try {
    return fn(await readAuditTopic(client, k));
  } finally {
    await client.close();
  }
}

export const showAuditTopic = (t: AuditTopic, filter: AuditFilter): AuditRecord[] => filterAudit(t.records, filter);

/** The request for one action (a new id); the fields the log sets itself (seq, at, prev, hash) are left out. */
export function auditRequestOf(entry: AuditEntry): AuditRequestMsg {
  return { kind: 'audit-request', v: 1, id: randomUUID(), entry: withoutReserved(entry) };
}

/** Sends operator and admin actions to the audit writer (at-least-once; the writer records each request id once). */
export function auditRequester(bus: Pick<Bus, 'publish'>, log: Logger): (entry: AuditEntry) => void {
  return (entry) => {
    checkEntry(entry);
    bus.publish('audit-requests', auditRequestOf(entry)).catch((err: unknown) => log.error({ err: (err as Error).message, action: entry.action }, 'audit request not sent'));
  };
}

/** Request ids remembered (the newest), so a redelivered request is not recorded twice. */
const RECENT_REQUESTS = 100_000;

interface Tail {
  last: AuditRecord | undefined;
  /** offset after the last message this writer knows of */
  end: bigint;
  checkpoints: number;
  readonly requests: Set<string>;
}

function tailOf(t: AuditTopic): Tail {
  const requests = new Set<string>();
  for (const line of t.records.slice(-RECENT_REQUESTS)) {
    const id = (JSON.parse(line) as AuditRecord).requestId;
    if (typeof id === 'string') requests.add(id);
  }
  const last = t.records.length ? (JSON.parse(t.records.at(-1)!) as AuditRecord) : undefined;
  return { last, end: t.end, checkpoints: t.checkpoints.length, requests };
}

/**
 * `vigil audit-writer`: the one writer of the audit topic. Starts only on a topic that verifies
 * (a forged tail is never chained on). Before each batch it checks the topic's end is where its own
 * last append left it; if not (a zombie writer, or a record produced by hand), it re-reads the
 * topic and carries on from its tail only if that verifies, otherwise from its own last record,
 * so the foreign record shows up as a break at `audit verify --kafka`.
 */
export async function startAuditWriter(cfg: Config, log: Logger): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'audit-writer');
  const client = kafkaClientOf(k, log.child({ component: 'kafka' }));
  const keyFile = auditFiles(cfg.dataDir).key;
  const topic = auditTopicOf(k);
  const bus = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }), client });
  let tail: Tail;
  let key: KeyObject;
  let written = 0;
  let resyncs = 0;
  try {
    await bus.start();
    const t = await readAuditTopic(client, k);
    const v = verifyAuditTopic(t, keyFile);
    if (!v.ok) throw new VigilError('VIGIL_ERR_AUDIT_TAMPERED', { file: `Kafka topic ${topic}`, record: `#${v.record}`, reason: v.reason });
    tail = tailOf(t);
    key = signingKey(keyFile, () => tail.checkpoints);
  } catch (err) {
    await bus.close();
    throw err;
  }
  // The group picks the one writer; the transactional id fences off a former one that did not notice it lost the partition (a zombie).
  const sender = client.transactionalSender(`${k.topicPrefix}audit-writer`);
  let fencedOff!: () => void;
  const fenced = new Promise<void>((r) => (fencedOff = r));
  let registered = false;
  let isFenced = false;

  const resync = async (): Promise<void> => {
    const t = await readAuditTopic(client, k);
    resyncs++;
    if (verifyAuditTopic(t, keyFile).ok) {
      log.warn({ topic, expectedEnd: tail.end.toString(), end: t.end.toString() }, 'the audit topic grew without this writer (another writer ran): carrying on from its verified tail');
      tail = tailOf(t);
    } else {
      log.error({ topic, end: t.end.toString() }, 'the audit topic holds records this writer did not write and that do not verify: chaining on from its own last record; `vigil audit verify --kafka` names them');
      tail.end = t.end;
    }
  };

  const write = async (reqs: readonly AuditRequestMsg[]): Promise<void> => {
    if (!registered) {
      // First batch as the owner: fence off any earlier writer before reading where the topic ends.
      await sender.fence();
      registered = true;
    }
    const high = (await client.topicOffsets(topic)).find((r) => r.partition === 0)?.high ?? 0n;
    if (high !== tail.end) await resync();
    const msgs: OutMessage[] = [];
    let last = tail.last;
    const ids: string[] = [];
    for (const r of reqs) {
      if (tail.requests.has(r.id) || ids.includes(r.id)) continue; // redelivered: recorded already
      const rec = chainRecord({ ...withoutReserved(r.entry), requestId: r.id }, last, new Date().toISOString());
      msgs.push({ key: RECORD, value: Buffer.from(canonicalJson(rec)) });
      ids.push(r.id);
      last = rec;
    }
    if (!last || msgs.length === 0) return;
    msgs.push({ key: CHECKPOINT, value: Buffer.from(canonicalJson(signCheckpoint(key, last.seq + 1, last.hash, new Date().toISOString()))) });
    try {
      await sender.send(topic, msgs, 30_000);
    } catch (err) {
      // Written or not, we cannot tell: the next try re-reads the topic (a written request is then skipped by its id).
      tail.end = -1n;
      throw err;
    }
    tail.last = last;
    tail.end += BigInt(msgs.length) + 1n; // and the transaction's commit marker
    tail.checkpoints++;
    for (const id of ids) tail.requests.add(id);
    for (const id of tail.requests) {
      if (tail.requests.size <= RECENT_REQUESTS) break;
      tail.requests.delete(id); // the oldest first (insertion order)
    }
    written += ids.length;
  };
  bus.subscribe('audit-requests', { group: 'audit-writer', maxBatch: 100 }, async (reqs) => {
    try {
      await write(reqs);
    } catch (err) {
      if (isVigilError(err, 'VIGIL_ERR_KAFKA_FENCED')) {
        // Another writer took over: leave at once, committing nothing (it records these requests).
        log.error({ topic, err: err.message }, 'fenced off by another audit writer; stopping');
        isFenced = true;
        fencedOff();
        void bus.close();
      }
      throw err;
    }
  });
  try {
    await bus.ready();
  } catch (err) {
    await sender.close();
    await bus.close();
    throw err;
  }
  return {
    name: 'audit-writer',
    info: { topic, requests: `${k.topicPrefix}audit-requests`, records: tail.last ? tail.last.seq + 1 : 0, key: join(cfg.dataDir, 'audit.key') },
    done: fenced,
    exitCode: () => (isFenced ? 75 : 0),
    health: () => ({ records: tail.last ? tail.last.seq + 1 : 0, written, resyncs }),
    async stop() {
      await sender.close();
      await bus.close();
    },
  };
}
