import type { Box, FaceRecord, RgbImage } from '../contracts/messages.js';
import { boxHeight, boxWidth, centreDistance, growBox, iou, shiftBox } from '../util/boxes.js';
import { headPose, interEyeDistance } from './quality.js';
import type { Detection } from './types.js';

/**
 * Work the inference stage can leave out without changing a decision (issue 11): detection and
 * embedding follow the faces' tracks instead of redoing every frame.
 *
 * - Detect less: the whole frame is detected on a schedule (every `fullEvery` frames), when something
 *   moves away from the live tracks (frame difference on a coarse luma grid) or when there is no track;
 *   in between, only regions around the live tracks are detected, at native resolution (a small
 *   detector input, so small faces get more pixels than in the 640 px full-frame pass). A frame where
 *   nothing moved is not detected at all: the tracks' last detections stand.
 * - Embed less: a track's face is embedded when the track is new, when a clearly better face arrives
 *   (bigger, more frontal, more confident), every `reembedEvery` frames, and on every frame while its
 *   identity is undecided (best watchlist similarity within `decidedMargin` of the threshold). A
 *   decided track is followed by its box alone, its last embedding and crop sent on.
 */
export interface ScheduleOptions {
  readonly enabled: boolean;
  /** Full-frame detection at least every this many frames of a camera. */
  readonly fullEvery: number;
  /** A decided track is embedded again at least every this many frames. */
  readonly reembedEvery: number;
  /** A face this many times better (quality score) than the track's last embedded one is embedded. */
  readonly betterFace: number;
  /** Identity decided when the best similarity is this far from the threshold (above or below). */
  readonly decidedMargin: number;
  /** Mean luma change of a grid cell that counts as motion, 0..255. */
  readonly motionLevel: number;
  /** Largest side of a region around a track, in multiples of the face's width. */
  readonly roiScale: number;
}

export const defaultScheduleOptions: ScheduleOptions = { enabled: true, fullEvery: 10, reembedEvery: 10, betterFace: 1.3, decidedMargin: 0.15, motionLevel: 8, roiScale: 2.5 };

/** How one frame is detected. */
export type DetectPlan =
  | { readonly kind: 'full' }
  | { readonly kind: 'rois'; readonly rois: readonly Box[] }
  /** nothing moved since the last frame: the live tracks' last detections stand (none: nothing to see) */
  | { readonly kind: 'still'; readonly detections: readonly Detection[] };

export interface FaceTrack {
  box: Box;
  detection: Detection;
  /** px per ms, from the last two sightings */
  vx: number;
  vy: number;
  lastAt: number;
  lastSeq: number;
  /** the last embedded face: what a followed face sends on */
  embedding?: Float32Array;
  crop?: Uint8Array;
  quality: number;
  embeddedSeq: number;
  /** embeddings in a row far from the threshold on the same side (+ above, - below) */
  agree: number;
  decided: boolean;
}

/** What to do with one detection of a frame. */
export interface FaceTask {
  readonly detection: Detection;
  /** absent when scheduling is off */
  readonly track?: FaceTrack;
  /** embed it (else send the track's last embedding and crop on) */
  readonly embed: boolean;
}

const GRID = 16; // px per motion cell side (sampled every 4th px: 16 samples a cell)
const MAX_GAP_MS = 1500;

/** Quality score for "a clearly better face": eye distance, discounted for head turn and low confidence. */
export function faceScore(d: Detection): number {
  const { yaw, pitch } = headPose(d.landmarks);
  const rad = Math.PI / 180;
  return interEyeDistance(d.landmarks) * Math.max(0, Math.cos(yaw * rad)) * Math.max(0, Math.cos(pitch * rad)) * d.score;
}

/** The per-camera state: motion grid, face tracks, frames since the last full detection. */
export class CameraSchedule {
  readonly #o: ScheduleOptions;
  #grid: Float32Array | undefined;
  #prev: Float32Array | undefined;
  #cols = 0;
  #rows = 0;
  #sinceFull = Infinity;
  #tracks: FaceTrack[] = [];

  constructor(o: ScheduleOptions) {
    this.#o = o;
  }

  /**
   * The plan for a frame captured at `at`, from the tracks as they stand (frames of one batch are
   * planned before any is detected, so regions follow each track's velocity to the frame's time).
   */
  plan(img: RgbImage, at: number): DetectPlan {
    const moving = this.#motion(img);
    const live = this.#tracks.filter((t) => at - t.lastAt <= MAX_GAP_MS);
    this.#sinceFull++;
    const rois = live.map((t) => this.#roi(t, at, img));
    // Motion of a tracked person's body (below the face) is no reason for a full pass.
    const people = rois.map((r) => [r[0], r[1], r[2], Math.min(img.height, r[3] + 4 * boxHeight(r))] as Box);
    const outside = moving.some((cell) => !people.some((r) => inside(cell, r)));
    if (this.#sinceFull >= this.#o.fullEvery || outside || (live.length === 0 && moving.length > 0)) {
      this.#sinceFull = 0;
      return { kind: 'full' };
    }
    if (moving.length === 0) return { kind: 'still', detections: live.map((t) => t.detection) };
    return { kind: 'rois', rois: mergeOverlapping(rois) };
  }

  /** Region around a track where its face will be at `at`: its box moved by its velocity, grown. */
  #roi(t: FaceTrack, at: number, img: RgbImage): Box {
    const dt = at - t.lastAt;
    const b = shiftBox(t.box, t.vx * dt, t.vy * dt);
    const g = (this.#o.roiScale - 1) / 2;
    return growBox(b, g + Math.abs(t.vx * dt) / Math.max(1, boxWidth(b)), g + Math.abs(t.vy * dt) / Math.max(1, boxHeight(b)), img.width, img.height);
  }

  /** Cells (as boxes) whose mean luma changed by more than motionLevel since the previous frame. */
  #motion(img: RgbImage): Box[] {
    const cols = Math.floor(img.width / GRID);
    const rows = Math.floor(img.height / GRID);
    if (!this.#grid || this.#cols !== cols || this.#rows !== rows) {
      this.#grid = new Float32Array(cols * rows);
      this.#prev = undefined;
      this.#cols = cols;
      this.#rows = rows;
    }
    const g = this.#grid;
    const d = img.data;
    const w = img.width;
    for (let cy = 0; cy < rows; cy++) {
      for (let cx = 0; cx < cols; cx++) {
        let s = 0;
        for (let y = cy * GRID + 2; y < (cy + 1) * GRID; y += 4) {
          let p = (y * w + cx * GRID + 2) * 3;
          for (let x = 0; x < GRID; x += 4, p += 12) s += d[p]! * 0.299 + d[p + 1]! * 0.587 + d[p + 2]! * 0.114;
        }
        g[cy * cols + cx] = s / 16;
      }
    }
    const moving: Box[] = [];
    const prev = this.#prev;
    if (prev) {
      for (let i = 0; i < g.length; i++) {
        if (Math.abs(g[i]! - prev[i]!) > this.#o.motionLevel) {
          const cx = (i % cols) * GRID;
          const cy = Math.floor(i / cols) * GRID;
          moving.push([cx, cy, cx + GRID, cy + GRID]);
        }
      }
      this.#grid = prev;
    } else {
      this.#grid = new Float32Array(cols * rows);
      // first frame: everything is new
      moving.push([0, 0, img.width, img.height]);
    }
    this.#prev = g;
    return moving;
  }

  /**
   * Links a frame's detections to the tracks (greedy on box overlap and nearness, with the velocity
   * prediction) and says which faces to embed. Call in frame order.
   */
  assign(dets: readonly Detection[], seq: number, at: number): FaceTask[] {
    this.#tracks = this.#tracks.filter((t) => at - t.lastAt <= MAX_GAP_MS);
    const pairs: { t: number; d: number; score: number }[] = [];
    this.#tracks.forEach((t, ti) => {
      const dt = at - t.lastAt;
      const pred = shiftBox(t.box, t.vx * dt, t.vy * dt);
      dets.forEach((d, di) => {
        const overlap = iou(pred, d.box);
        const near = centreDistance(pred, d.box) <= 0.75 * Math.max(boxWidth(pred), boxWidth(d.box));
        const similar = boxWidth(d.box) < 1.6 * boxWidth(pred) && boxWidth(pred) < 1.6 * boxWidth(d.box);
        if ((overlap > 0.2 || near) && similar) pairs.push({ t: ti, d: di, score: overlap - centreDistance(pred, d.box) / 1e4 });
      });
    });
    pairs.sort((a, b) => b.score - a.score);
    const usedT = new Set<number>();
    const out: (FaceTask | undefined)[] = new Array(dets.length);
    for (const p of pairs) {
      if (usedT.has(p.t) || out[p.d]) continue;
      usedT.add(p.t);
      const t = this.#tracks[p.t]!;
      const d = dets[p.d]!;
      const dt = Math.max(1, at - t.lastAt);
      const cx = (d.box[0] + d.box[2] - t.box[0] - t.box[2]) / 2;
      const cy = (d.box[1] + d.box[3] - t.box[1] - t.box[3]) / 2;
      t.vx = cx / dt;
      t.vy = cy / dt;
      t.box = d.box;
      t.detection = d;
      t.lastAt = at;
      t.lastSeq = seq;
      const embed = !t.decided || !t.embedding || seq - t.embeddedSeq >= this.#o.reembedEvery || faceScore(d) >= this.#o.betterFace * t.quality;
      out[p.d] = { detection: d, track: t, embed };
    }
    for (let i = 0; i < dets.length; i++) {
      if (out[i]) continue;
      const d = dets[i]!;
      const t: FaceTrack = { box: d.box, detection: d, vx: 0, vy: 0, lastAt: at, lastSeq: seq, quality: 0, embeddedSeq: -Infinity, agree: 0, decided: false };
      this.#tracks.push(t);
      out[i] = { detection: d, track: t, embed: true };
    }
    // A region pass that lost a track's face leaves the track to the next full pass (kept by MAX_GAP_MS).
    return out as FaceTask[];
  }

  /** Records what an embedded face gave its track: the embedding and crop sent on while it is followed. */
  embedded(t: FaceTrack, d: Detection, seq: number, embedding: Float32Array, crop: Uint8Array, margin: number | undefined): void {
    t.embedding = embedding;
    t.crop = crop;
    t.quality = faceScore(d);
    t.embeddedSeq = seq;
    // Decided after two embeddings in a row agree, far from the threshold: one poor first face (blur,
    // turn) of a listed person must not settle the track as a stranger (measured: p95 time to alert 0.36 -> 1.15 s).
    const side = margin === undefined || Math.abs(margin) < this.#o.decidedMargin ? 0 : Math.sign(margin);
    t.agree = side === 0 ? 0 : Math.sign(t.agree) === side ? t.agree + side : side;
    t.decided = Math.abs(t.agree) >= 2;
  }

  /** A followed face: the current detection with its track's last embedding and crop. */
  static followed(task: FaceTask): FaceRecord | undefined {
    const { detection: d, track: t } = task;
    if (!t?.embedding || !t.crop) return undefined;
    return { box: d.box, score: d.score, landmarks: d.landmarks, embedding: t.embedding, crop: t.crop };
  }
}

function inside(cell: Box, r: Box): boolean {
  const cx = (cell[0] + cell[2]) / 2;
  const cy = (cell[1] + cell[3]) / 2;
  return cx >= r[0] && cx <= r[2] && cy >= r[1] && cy <= r[3];
}

/** Overlapping regions merged into their bounding box, so a face is never detected twice. */
function mergeOverlapping(rois: readonly Box[]): Box[] {
  const out: Box[] = [];
  for (const r of rois) {
    let cur = r;
    for (let i = out.length - 1; i >= 0; i--) {
      const o = out[i]!;
      if (o[0] < cur[2] && cur[0] < o[2] && o[1] < cur[3] && cur[1] < o[3]) {
        cur = [Math.min(o[0], cur[0]), Math.min(o[1], cur[1]), Math.max(o[2], cur[2]), Math.max(o[3], cur[3])];
        out.splice(i, 1);
      }
    }
    out.push(cur);
  }
  return out;
}
