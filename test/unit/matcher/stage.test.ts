import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers.js';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { FacesMsg, MatchEvent, SubjectRecord } from '../../../src/contracts/messages.js';
import { createLogger } from '../../../src/log.js';
import { defaultAlertRules } from '../../../src/matcher/alerts.js';
import { SubjectIndex } from '../../../src/matcher/index.js';
import { ListPolicy } from '../../../src/matcher/lists.js';
import { MatcherStage, PROFILE_MISMATCH_LOG_EVERY } from '../../../src/matcher/stage.js';

const unit = (a: number): Float32Array => new Float32Array([Math.cos(a), Math.sin(a), 0, 0]);
const subject = (id: string, a: number): SubjectRecord => ({
  id, name: id, createdAt: '', updatedAt: '', images: [{ sha256: id, name: id }], embeddings: [{ model: 'm', image: id, vector: Array.from(unit(a)) }],
});
const T0 = Date.UTC(2026, 0, 1);
const facesMsg = (seq: number, angles: number[], model = 'm', camera = 'cam'): FacesMsg => ({
  kind: 'faces', v: 1, camera, seq, capturedAt: T0 + seq * 200, mediaTime: seq / 5, frame: { width: 100, height: 100 }, profile: 'p', model,
  faces: angles.map((a, i) => ({ box: [1 + i * 60, 2, 30 + i * 60, 40], score: 0.9, landmarks: [], embedding: unit(a), crop: new Uint8Array([0xff, 0xd8]) })),
});

async function run(threshold: number, msgs: FacesMsg[], topK = 2, unknownDir?: string): Promise<{ events: MatchEvent[]; stage: MatcherStage }> {
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
  // a at angle 0, b at 0.5 rad: a face at angle x has similarity cos(x) to a and cos(x - 0.5) to b
  const index = SubjectIndex.build('m', 4, [subject('a', 0), subject('b', 0.5)]);
  const stage = new MatcherStage({ bus, index, rules: { ...defaultAlertRules, threshold }, topK, log: createLogger('silent'), unknownDir });
  await stage.start();
  const events: MatchEvent[] = [];
  bus.subscribe('matches', { group: 't' }, (e) => void events.push(...e));
  for (const m of msgs) await bus.publish('faces', m);
  await bus.idle();
  await stage.stop();
  return { events, stage };
}

describe('MatcherStage', () => {
  it('raises one alert per appearance, not one per frame, with candidates, margin and the rule', async () => {
    // 10 frames of a face at 0.05 rad from a (similarity .999): one track, one strong alert
    const { events } = await run(0.8, Array.from({ length: 10 }, (_, s) => facesMsg(s, [0.05])));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({ type: 'alert', revision: 0, rule: 'strong', subject: { id: 'a' }, camera: 'cam', seq: 0, mediaTime: 0, box: [1, 2, 30, 40], crop: '/9g=' });
    expect(e.candidates.map((c) => c.subject.id)).toEqual(['a', 'b']);
    expect(e.margin).toBeCloseTo(Math.cos(0.05) - Math.cos(0.45), 3);
    expect(e.firstSeenAt).toBe('2026-01-01T00:00:00.000Z');
  });

  it('stays silent below the threshold and counts unknown faces and appearances', async () => {
    const { events, stage } = await run(0.99, Array.from({ length: 4 }, (_, s) => facesMsg(s, [1.2])));
    expect(events).toEqual([]);
    expect(stage.unknown()).toEqual({ cam: { faces: 4, tracks: 1 } });
  });

  it('saves the best face of an unknown appearance only when configured', async () => {
    const dir = await tempDir();
    const { stage } = await run(0.99, Array.from({ length: 3 }, (_, s) => facesMsg(s, [1.2])), 2, dir);
    expect(stage.unknown().cam?.tracks).toBe(1);
    const files = await readdir(join(dir, 'cam'));
    expect(files).toHaveLength(1);
    expect([...(await readFile(join(dir, 'cam', files[0]!)))]).toEqual([0xff, 0xd8]);
  });

  it('keeps unknown faces owner-only: folders 0700, files 0600 (biometric data)', async () => {
    const dir = join(await tempDir(), 'unknown');
    await run(0.99, Array.from({ length: 3 }, (_, s) => facesMsg(s, [1.2])), 2, dir);
    const [file] = await readdir(join(dir, 'cam'));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'cam'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'cam', file!))).mode & 0o777).toBe(0o600);
  });

  it('never compares faces of another embedding model with the index', async () => {
    expect((await run(0.1, [facesMsg(1, [0], 'other-model')])).events).toEqual([]);
  });

  it('gives the same stream the same alert ids (redelivery is recognisable)', async () => {
    const msgs = () => [facesMsg(3, [0]), facesMsg(4, [0])];
    const a = (await run(0.5, msgs())).events[0]!;
    const b = (await run(0.5, msgs())).events[0]!;
    expect(a.id).toBe(b.id);
  });

  it('alerts two people in one frame separately', async () => {
    const { events } = await run(0.9, [facesMsg(0, [0, 0.5]), facesMsg(1, [0, 0.5])]);
    expect(events.map((e) => e.subject.id).sort()).toEqual(['a', 'b']);
  });
});

describe('MatcherStage with faces of another model (infer and match on different profiles)', () => {
  it('logs an error naming both profiles on the first message and once every 100, and counts every one', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) });
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
    const index = SubjectIndex.build('m', 4, [subject('a', 0)]);
    const counted: string[] = [];
    const stage = new MatcherStage({
      bus, index, rules: { ...defaultAlertRules, threshold: 0.1 }, topK: 1, log: pino({ level: 'info' }, sink), profile: 'research',
      onProfileMismatch: (face, idx) => counted.push(`${face}->${idx}`),
    });
    await stage.start();
    const events: MatchEvent[] = [];
    bus.subscribe('matches', { group: 't' }, (e) => void events.push(...e));
    for (let i = 0; i < 2 * PROFILE_MISMATCH_LOG_EVERY + 1; i++) await bus.publish('faces', facesMsg(i, [0], 'other-model'));
    await bus.publish('faces', facesMsg(1000, [0]));
    await bus.idle();
    await stage.stop();
    expect(stage.profileMismatches).toBe(201);
    expect(counted).toHaveLength(201);
    expect(counted[0]).toBe('other-model->m');
    const errors = lines.filter((l) => l.level === 50);
    expect(errors.map((l) => l.mismatched)).toEqual([1, 100, 200]);
    expect(errors[0]).toMatchObject({ faceProfile: 'p', faceModel: 'other-model', indexProfile: 'research', indexModel: 'm', camera: 'cam' });
    expect(String(errors[0]!.msg)).toContain('profile mismatch');
    expect(events.map((e) => e.seq)).toEqual([1000]); // faces of the index's own model still alert
  });
});

describe('MatcherStage on the watchlist topic (distributed mode)', () => {
  /** A stage whose index starts empty and is filled by watchlist-topic records, as `vigil match` does. */
  async function topicStage(): Promise<{ bus: MemoryBus; index: SubjectIndex; stage: MatcherStage; policy: ListPolicy }> {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
    const index = new SubjectIndex('m', 4);
    const policy = new ListPolicy(0.8, () => 0.8);
    const stage = new MatcherStage({ bus, index, policy, rules: { ...defaultAlertRules, threshold: 0.8 }, topK: 2, log: createLogger('silent') });
    await stage.start();
    return { bus, index, stage, policy };
  }
  const negatives = (subject: string, angles: number[]) => ({ kind: 'watchlist', v: 2, op: 'negatives', subject, model: 'm', vectors: angles.map((a) => Array.from(unit(a))) }) as const;

  it('keeps negative examples that arrive before their subject (compaction reorders keys), across upserts, and drops them with a removal', async () => {
    const { bus, index, stage } = await topicStage();
    // A look-alike at 0.3 rad (similarity .955 to a): dismissed before a's latest upsert on the compacted topic.
    await bus.publish('watchlist', negatives('a', [0.3]));
    await bus.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: subject('a', 0) });
    await bus.idle();
    expect(index.search(unit(0.3), 1)).toEqual([]); // closer to the dismissed face than to a
    expect(index.search(unit(0.05), 1)[0]?.subject.id).toBe('a'); // a's own face still matches
    await bus.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: { ...subject('a', 0), name: 'renamed' } });
    await bus.idle();
    expect(index.search(unit(0.3), 1)).toEqual([]); // an edit of the subject keeps them
    await bus.publish('watchlist', { kind: 'watchlist', v: 1, op: 'remove', id: 'a' });
    await bus.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: subject('a', 0) });
    await bus.idle();
    expect(index.search(unit(0.3), 1)[0]?.subject.id).toBe('a'); // a new subject of the same id starts clean
    expect(stage.negativeSubjects).toBe(0);
    // Another model's negatives are not this index's business.
    await bus.publish('watchlist', { ...negatives('a', [0.3]), model: 'other' });
    await bus.idle();
    expect(index.search(unit(0.3), 1)[0]?.subject.id).toBe('a');
    await stage.stop();
  });

  it('applies a list record: its operating point and priority', async () => {
    const { bus, policy, stage } = await topicStage();
    await bus.publish('watchlist', { kind: 'watchlist', v: 2, op: 'list', list: { name: 'vip', priority: 5, colour: null, threshold: 0.97, targetFpir: null } });
    await bus.idle();
    expect(policy.thresholdFor(['vip'])).toBe(0.97);
    expect(policy.match(['vip'], 0.99)).toEqual({ threshold: 0.97, list: { name: 'vip', priority: 5 } });
    await stage.stop();
  });
});
