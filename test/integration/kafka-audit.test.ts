import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRequester, auditTopicOf, kafkaClientOf, readAuditTopic, startAuditWriter, verifyAuditTopic } from '../../src/audit/kafka.js';
import { auditFiles, chainRecord, signCheckpoint, type AuditRecord } from '../../src/audit/log.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { KafkaBus } from '../../src/bus/kafka.js';
import type { KafkaClient } from '../../src/bus/kafka-client.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { isVigilError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { RunningService } from '../../src/services/service.js';
import { publishWatchlist } from '../../src/services/watchlist.js';
import { tempDir } from '../helpers.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { vigil } from './cli.js';
import { until } from './kafka-procs.js';

/**
 * The distributed audit log on a real broker: services send actions to the audit-requests topic,
 * one writer (of two started: the other waits in its consumer group) chains and signs them onto the
 * audit topic, the standby takes over the same chain, a redelivered request is recorded once, and
 * `vigil audit verify --kafka` catches records produced to the topic by anyone else.
 */
const log = createLogger('silent');
let brokers: string;
let dataDir: string;
let client: KafkaClient;
const closers: (() => Promise<void> | void)[] = [];

const configFor = async (prefix: string): Promise<{ cfg: Config; env: Record<string, string> }> => {
  const raw = { dataDir, models: { profile: 'research' }, bus: { kafka: { brokers: brokers.split(','), topicPrefix: prefix, partitions: 2, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 } } };
  const file = join(dataDir, `${prefix}yaml`);
  await writeFile(file, stringify(raw));
  return { cfg: parseConfig(raw, {}), env: { VIGIL_CONFIG: file, KAFKA_BROKERS: '' } };
};

beforeAll(async () => {
  brokers = await sharedBrokers();
  dataDir = await tempDir();
  client = kafkaClientOf(parseConfig({ bus: { kafka: { brokers: brokers.split(',') } } }, {}).bus.kafka!, log);
  closers.push(() => client.close());
}, 300_000);
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

describe('the audit log in the distributed mode', () => {
  let cfg: Config;
  let env: Record<string, string>;
  let records: AuditRecord[];
  let standby: RunningService;
  let bus: KafkaBus;

  it('one writer chains the requests of every service; a second writer stands by and takes over the same chain; a redelivered request counts once', async () => {
    ({ cfg, env } = await configFor(uniquePrefix('audit')));
    const writers: RunningService[] = [await startAuditWriter(cfg, log), await startAuditWriter(cfg, log)];
    closers.push(...writers.map((w) => () => w.stop()));
    bus = new KafkaBus({ kafka: cfg.bus.kafka!, log });
    closers.push(() => bus.close());
    const record = auditRequester(bus, log);
    const written = (): number => writers.reduce((n, w) => n + (w.health().written as number), 0);
    for (let i = 0; i < 5; i++) record({ actor: 'operator:alice', action: 'alert.dismissed', alert: `a${i}`, note: null });
    await until(() => written() === 5, 20_000, `5 records (${JSON.stringify(writers.map((w) => w.health()))})`);
    const owner = writers.findIndex((w) => (w.health().written as number) === 5);
    expect(owner).toBeGreaterThanOrEqual(0); // all by one writer: the other got no partition

    // A request delivered twice (a service that crashed before its send was acknowledged, say) is recorded once.
    const dup = { kind: 'audit-request', v: 1, id: 'req-twice', entry: { actor: 'admin:bob', action: 'subject.remove', subject: 'x' } } as const;
    await bus.publish('audit-requests', dup);
    await bus.publish('audit-requests', dup);
    await until(() => written() === 6, 20_000, 'the repeated request');

    // The owner goes away: the standby takes the partition and continues the same chain.
    await writers[owner]!.stop();
    standby = writers[1 - owner]!;
    for (let i = 5; i < 8; i++) record({ actor: 'operator:carol', action: 'alert.acknowledged', alert: `a${i}`, note: 'seen' });
    await until(() => (standby.health().written as number) === 3, 30_000, `the standby to take over (${JSON.stringify(standby.health())})`);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show now

    const t = await readAuditTopic(client, cfg.bus.kafka!);
    records = t.records.map((l) => JSON.parse(l) as AuditRecord);
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(records.filter((r) => r.requestId === 'req-twice')).toHaveLength(1);
    expect(records.map((r) => r.alert ?? r.subject)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'x', 'a5', 'a6', 'a7']);
    expect(verifyAuditTopic(t, auditFiles(dataDir).key)).toMatchObject({ ok: true, records: 9, signedUpTo: 9 });

    const v = await vigil(['audit', 'verify', '--kafka'], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/audit topic .*audit OK: 9 record\(s\)/);
    const show = await vigil(['audit', 'show', '--kafka', '--action', 'alert.', '--actor', 'operator:carol', '--json'], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).alert)).toEqual(['a5', 'a6', 'a7']);
    console.log(v.stdout.trim());
  });

  it('a writer fenced off by a newer holder of its transactional id (it lost the partition without noticing) stops, and the requests go to the other writer', async () => {
    const fcfg = (await configFor(uniquePrefix('audit-fence'))).cfg;
    const writers = [await startAuditWriter(fcfg, log), await startAuditWriter(fcfg, log)];
    closers.push(...writers.map((w) => () => w.stop()));
    const fbus = new KafkaBus({ kafka: fcfg.bus.kafka!, log });
    closers.push(() => fbus.close());
    const record = auditRequester(fbus, log);
    const written = (w: RunningService): number => w.health().written as number;
    record({ actor: 'operator:alice', action: 'alert.dismissed', alert: 'f0', note: null });
    await until(() => writers.some((w) => written(w) === 1), 20_000, 'the first record');
    const owner = writers.find((w) => written(w) === 1)!;
    const other = writers.find((w) => w !== owner)!;
    // What a writer that took over does first: register the transactional id (here by hand, the owner unaware).
    const usurper = client.transactionalSender(`${fcfg.bus.kafka!.topicPrefix}audit-writer`);
    await usurper.fence();
    record({ actor: 'operator:alice', action: 'alert.dismissed', alert: 'f1', note: null });
    let ended = false;
    void owner.done.then(() => (ended = true));
    await until(() => ended, 20_000, 'the fenced writer to stop');
    expect(owner.exitCode()).toBe(75);
    await until(() => written(other) === 1, 30_000, 'the other writer to record the request');
    await usurper.close();
    // A CLI watchlist change with Kafka configured (`vigil watchlist remove` here) sends its audit record with the change.
    const fileRecord = { seq: 41, at: 'x', prev: 'y', hash: 'z', actor: 'cli:dave', action: 'subject.remove', subject: 'nobody', photos: [], reason: null };
    await publishWatchlist(fcfg, log, [{ op: 'remove', id: 'nobody' }], fileRecord);
    await until(() => written(other) === 2, 20_000, 'the CLI change in the audit topic');
    const t = await readAuditTopic(client, fcfg.bus.kafka!);
    const recs = t.records.map((l) => JSON.parse(l) as AuditRecord);
    expect(recs.map((x) => x.alert ?? x.subject)).toEqual(['f0', 'f1', 'nobody']);
    expect(recs[2]).toMatchObject({ seq: 2, actor: 'cli:dave', action: 'subject.remove', prev: recs[1]!.hash }); // chained here, not the file log's seq
    expect(verifyAuditTopic(t, auditFiles(dataDir).key)).toMatchObject({ ok: true, records: 3, signedUpTo: 3 });
  });

  it('`audit verify --kafka` catches a record replayed onto the topic (reordered), a forged record chained on the tail, and a forged checkpoint; a writer will not start on such a topic', async () => {
    const raw = client.sender();
    closers.push(() => raw.close());
    // A copy of the good topic under another prefix, each tampering produced onto the copy.
    const copy = await configFor(uniquePrefix('audit-copy'));
    const good = await readAuditTopic(client, cfg.bus.kafka!);
    await client.ensureTopics([{ name: auditTopicOf(copy.cfg.bus.kafka!), partitions: 1, replicationFactor: 1, config: { 'retention.ms': '-1' } }]);
    // In topic order: each of the writer's checkpoints after the records it covers (it signed after each batch).
    const msgs: { key: string; value: Buffer }[] = [];
    let cp = 0;
    for (const [i, line] of good.records.entries()) {
      msgs.push({ key: 'record', value: Buffer.from(line) });
      while (cp < good.checkpoints.length && (JSON.parse(good.checkpoints[cp]!) as { size: number }).size === i + 1) msgs.push({ key: 'checkpoint', value: Buffer.from(good.checkpoints[cp++]!) });
    }
    await raw.send(auditTopicOf(copy.cfg.bus.kafka!), msgs, 10_000);
    const verify = async (): Promise<{ code: number; out: string }> => {
      const r = await vigil(['audit', 'verify', '--kafka'], copy.env);
      return { code: r.code ?? -1, out: `${r.stdout}${r.stderr}` };
    };
    expect(verifyAuditTopic(await readAuditTopic(client, copy.cfg.bus.kafka!), auditFiles(dataDir).key)).toMatchObject({ ok: true, records: 9 });

    // 1. A forged record, chained correctly onto the tail (anyone can compute sha256).
    const forged = chainRecord({ actor: 'admin:mallory', action: 'subject.enroll', subject: 'mallory' }, records.at(-1), new Date().toISOString());
    await raw.send(auditTopicOf(copy.cfg.bus.kafka!), [{ key: 'record', value: Buffer.from(canonicalJson(forged)) }], 10_000);
    const r = await verify();
    expect(r.code).toBe(65);
    expect(r.out).toContain('VIGIL_ERR_AUDIT_TAMPERED');
    expect(r.out).toMatch(/record #9: not covered by a signed checkpoint/);
    await expect(startAuditWriter(copy.cfg, log)).rejects.toSatisfy((e) => isVigilError(e) && e.code === 'VIGIL_ERR_AUDIT_TAMPERED');

    // 2. ... and a checkpoint over it, signed with another key.
    const other = generateKeyPairSync('ed25519').privateKey;
    await raw.send(auditTopicOf(copy.cfg.bus.kafka!), [{ key: 'checkpoint', value: Buffer.from(canonicalJson(signCheckpoint(other, 10, forged.hash, new Date().toISOString()))) }], 10_000);
    expect(verifyAuditTopic(await readAuditTopic(client, copy.cfg.bus.kafka!), auditFiles(dataDir).key)).toMatchObject({ ok: false, reason: expect.stringMatching(/checkpoint 5 .* bad signature/) });

    // 3. On the real topic: an earlier record produced again (a replay, i.e. a reordering).
    await raw.send(auditTopicOf(cfg.bus.kafka!), [{ key: 'record', value: Buffer.from(canonicalJson(records[3]!)) }], 10_000);
    const real = await vigil(['audit', 'verify', '--kafka'], env);
    expect(real.code).toBe(65);
    expect(`${real.stdout}${real.stderr}`).toMatch(/record #9: sequence number 3 where 9 belongs/);
    console.log(`${r.out.trim()}\n${real.stderr.trim()}`);

    // The running writer notices the foreign record before its next batch: it does not chain on it.
    auditRequester(bus, log)({ actor: 'operator:carol', action: 'alert.confirmed', alert: 'a8', note: null });
    await until(() => (standby.health().written as number) === 4, 20_000, 'the next record');
    expect(standby.health().resyncs).toBe(2); // its takeover (the topic had grown by the first writer's records), then the foreign record
    const after = (await readAuditTopic(client, cfg.bus.kafka!)).records.map((l) => JSON.parse(l) as AuditRecord);
    expect(after.map((x) => x.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 3, 9]);
    expect(after.at(-1)).toMatchObject({ alert: 'a8', prev: records[8]!.hash });
  });
});
