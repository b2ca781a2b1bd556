import { createHash } from 'node:crypto';
import type { Bus } from '../contracts/bus.js';
import type { FacesMsg, MatchEvent } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import type { SubjectIndex } from './index.js';

export interface MatcherOptions {
  readonly bus: Bus;
  readonly index: SubjectIndex;
  readonly threshold: number;
  readonly topK: number;
  readonly log: Logger;
  /** Consumer group on the watchlist topic: every replica must see every change. */
  readonly replicaId?: string;
}

/** Same camera, frame, face slot and subject -> same id, so a redelivered match is recognisable. */
export function matchEventId(camera: string, seq: number, face: number, subject: string): string {
  return createHash('sha256').update(`${camera}\0${seq}\0${face}\0${subject}`).digest('hex').slice(0, 24);
}

/** Decides, for every embedded face, whether it is a watchlist subject; publishes a MatchEvent if so. */
export class MatcherStage {
  readonly name = 'matcher';
  readonly #o: MatcherOptions;
  readonly #unsubs: (() => void)[] = [];
  #modelMismatch = 0;
  faces = 0;
  matches = 0;

  constructor(o: MatcherOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const { bus, index, log } = this.#o;
    this.#unsubs.push(
      bus.subscribe('faces', { group: 'matcher' }, async (msgs) => {
        for (const m of msgs) await this.#match(m);
      }),
      bus.subscribe('watchlist', { group: `matcher-${this.#o.replicaId ?? 'embedded'}` }, (changes) => {
        for (const c of changes) {
          if (c.op === 'upsert') index.upsert(c.subject);
          else index.remove(c.id);
          log.info({ op: c.op, subject: c.op === 'upsert' ? c.subject.id : c.id, subjects: index.subjects }, 'watchlist changed');
        }
      }),
    );
  }

  async #match(m: FacesMsg): Promise<void> {
    const { bus, index, threshold, topK, log } = this.#o;
    if (m.faces.length === 0) return;
    if (m.model !== index.model) {
      // Never compare across models: similarities between two embedding spaces mean nothing.
      if (this.#modelMismatch++ === 0) log.error({ faceModel: m.model, indexModel: index.model }, 'faces embedded by another model than the watchlist index; ignored');
      return;
    }
    for (let i = 0; i < m.faces.length; i++) {
      const f = m.faces[i];
      this.faces++;
      const candidates = index.search(f.embedding, topK);
      const best = candidates[0];
      if (!best || best.similarity < threshold) continue;
      const ev: MatchEvent = {
        kind: 'match',
        v: 1,
        id: matchEventId(m.camera, m.seq, i, best.subject.id),
        subject: best.subject,
        similarity: round(best.similarity),
        threshold,
        candidates: candidates.map((c) => ({ subject: c.subject, similarity: round(c.similarity) })),
        camera: m.camera,
        seq: m.seq,
        capturedAt: new Date(m.capturedAt).toISOString(),
        mediaTime: m.mediaTime === null ? null : round(m.mediaTime),
        box: f.box.map((v) => Math.round(v)) as unknown as MatchEvent['box'],
        frame: m.frame,
        detectorScore: round(f.score),
        crop: Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength).toString('base64'),
        profile: m.profile,
        model: m.model,
      };
      this.matches++;
      await bus.publish('matches', ev);
    }
  }

  async stop(): Promise<void> {
    for (const u of this.#unsubs.splice(0)) u();
  }
}

const round = (v: number): number => Math.round(v * 10000) / 10000;
