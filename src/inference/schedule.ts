import type { Box, FaceRecord, RgbImage } from '../contracts/messages.js';
import { boxHeight, boxWidth, centreDistance, growBox, iou, overlaps, shiftBox, unionBox } from '../util/boxes.js';
import { letterboxGeometry } from './detect/letterbox.js';
import { headPose, interEyeDistance } from './quality.js';
import type { Detection } from './types.js';

/**
 * Work the inference stage can leave out without changing a decision (issue 11): detection and
 * embedding follow the faces' tracks instead of redoing every frame.
 *
 * - Detect less: regions around the live tracks are detected with a small detector input (small
 *   faces get more pixels than in the 640 px full-frame pass), and where something moves away from
 *   the tracks (frame difference on a coarse luma grid) the regions around what moved, at native
 *   resolution. The whole frame is detected every `fullEvery` frames if anything moved since the last
 *   full pass, and when the regions would cost about as much (the first frame, a crowd). A frame
 *   where nothing moved is not detected at all: the tracks' last detections stand.
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
  /**
   * Motion away from the tracks is detected in regions around what moved, at native resolution
   * (false: a full pass, as before; kept to measure the difference).
   */
  readonly motionRegions: boolean;
  /** The detector inputs, longest side px: full pass and region (to tell when regions cost more than a full pass). */
  readonly fullSize: number;
  readonly regionSize: number;
  /** 'profile': decided faces' regions are marked settled, for the profile's cheaper region detector (engine.ts RegionCrop.settled); 'detector': none is. */
  readonly regionModel: 'profile' | 'detector';
  /** Regions whose detector input would exceed this share of a full pass's are detected by a full pass instead. */
  readonly maxRegionCost: number;
}

export const defaultScheduleOptions: ScheduleOptions = {
  enabled: true,
  fullEvery: 10,
  reembedEvery: 10,
  betterFace: 1.3,
  decidedMargin: 0.15,
  motionLevel: 8,
  roiScale: 2.5,
  motionRegions: true,
  fullSize: 640,
  regionSize: 192,
  regionModel: 'profile',
  maxRegionCost: 0.7,
};

/** How one frame is detected. */
export type DetectPlan =
  | { readonly kind: 'full' }
  /**
   * `rois`: around live tracks (detected at the region size), `settled[i]` when every track in rois[i]
   * has its identity decided (followed by box: the cheaper region detector may follow it); `moved`:
   * where something moved away from them (native resolution)
   */
  | { readonly kind: 'rois'; readonly rois: readonly Box[]; readonly settled: readonly boolean[]; readonly moved: readonly Box[] }
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
  /** detections linked to the track */
  seen: number;
  /** full passes asked for because a region pass's face of it failed the quality gates */
  fullAsked: number;
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
  #movedSinceFull = true;
  #wantFull = false;
  #tracks: FaceTrack[] = [];

  constructor(o: ScheduleOptions) {
    this.#o = o;
  }

  /**
   * The plan for a frame captured at `at`, from the tracks as they stand (frames of one batch are
   * planned before any is detected, so regions follow each track's velocity to the frame's time).
   */
  plan(img: RgbImage, at: number): DetectPlan {
    const o = this.#o;
    const moving = this.#motion(img);
    const live = this.#tracks.filter((t) => at - t.lastAt <= MAX_GAP_MS);
    this.#sinceFull++;
    if (moving.length > 0) this.#movedSinceFull = true;
    const rois = live.map((t) => this.#roi(t, at, img));
    const settled = live.map((t) => o.regionModel === 'profile' && t.decided);
    // Motion of a tracked person's body (below the face) is no reason to look for a new face.
    const people = rois.map((r) => [r[0], r[1], r[2], Math.min(img.height, r[3] + 4 * boxHeight(r))] as Box);
    const outside = moving.filter((cell) => !people.some((r) => inside(cell, r)));
    const full = (): DetectPlan => {
      this.#sinceFull = 0;
      this.#movedSinceFull = false;
      return { kind: 'full' };
    };
    if (this.#wantFull) {
      this.#wantFull = false;
      if (moving.length > 0) return full();
    }
    if (!o.motionRegions) {
      // The first version: any motion away from the tracks, or none tracked, is a full pass.
      if (this.#sinceFull >= o.fullEvery || outside.length > 0 || (live.length === 0 && moving.length > 0)) return full();
      if (moving.length === 0) return { kind: 'still', detections: live.map((t) => t.detection) };
      const m = mergeRegions(rois, settled, []);
      return { kind: 'rois', rois: m.rois, settled: m.settled, moved: [] };
    }
    // The periodic full pass catches a face the regions missed; a scene where nothing moved since the last one has nothing new.
    if (this.#sinceFull >= o.fullEvery && this.#movedSinceFull) return full();
    if (moving.length === 0) return { kind: 'still', detections: live.map((t) => t.detection) };
    const merged = mergeRegions(rois, settled, motionRegions(outside, this.#cols, img));
    // Motion below a tracked face (its body, or someone walking beneath it) is looked at too, at the
    // region size: ignoring it hid a second walker for a whole full-pass interval (seed 2: p95 time to
    // alert 0.55 -> 2.36 s). Not merged with the face regions (the face would shrink); overlaps are
    // deduplicated after detection.
    const below = moving.filter((cell) => !rois.some((r) => inside(cell, r)) && people.some((r) => inside(cell, r)));
    const under = mergeRegions(motionRegions(below, this.#cols, img), [], []).rois;
    merged.rois.push(...under);
    merged.settled.push(...under.map(() => false));
    // Regions that cost about what the whole frame costs (a crowd, a camera pan, the first frame): one full pass.
    if (this.#cost(merged) > o.maxRegionCost * canvas(img.width, img.height, o.fullSize)) return full();
    return { kind: 'rois', ...merged };
  }

  /** Detector input pixels for the regions: track regions at the region size, moved ones at native resolution. */
  #cost(r: { rois: readonly Box[]; moved: readonly Box[] }): number {
    const { regionSize } = this.#o;
    let px = 0;
    for (const b of r.rois) px += canvas(boxWidth(b), boxHeight(b), regionSize);
    for (const b of r.moved) px += canvas(boxWidth(b), boxHeight(b), Math.max(regionSize, boxWidth(b), boxHeight(b)));
    return px;
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
   * prediction) and says which faces to embed. Call in frame order; `still`: the detections of a
   * 'still' plan (the tracks' last ones, linked without counting as a sighting).
   */
  assign(dets: readonly Detection[], seq: number, at: number, still = false): FaceTask[] {
    this.#tracks = this.#tracks.filter((t) => at - t.lastAt <= MAX_GAP_MS);
    const pairs: { t: number; d: number; score: number }[] = [];
    this.#tracks.forEach((t, ti) => {
      const dt = at - t.lastAt;
      const pred = shiftBox(t.box, t.vx * dt, t.vy * dt);
      dets.forEach((d, di) => {
        const overlap = iou(pred, d.box);
        // A track seen once has no velocity yet: a walker moves one to two face widths a frame at 5 fps.
        // (Its identity is undecided, so a wrong link costs an embedding, never a wrong name.)
        // A frame or more missed (a region pass that did not find it): the prediction is less sure.
        const reach = (t.seen >= 2 ? 0.75 : 2) * Math.max(1, dt / 250);
        const near = centreDistance(pred, d.box) <= reach * Math.max(boxWidth(pred), boxWidth(d.box));
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
      // A still frame's detections are the tracks' last ones, not a sighting: they must not keep a
      // track alive (measured: a walker who left stood on as a ghost at the frame's edge through an
      // empty corridor and took over the next walker, who was then sent on with the ghost's identity).
      if (!still) {
        const dt = Math.max(1, at - t.lastAt);
        const cx = (d.box[0] + d.box[2] - t.box[0] - t.box[2]) / 2;
        const cy = (d.box[1] + d.box[3] - t.box[1] - t.box[3]) / 2;
        t.vx = cx / dt;
        t.vy = cy / dt;
        t.box = d.box;
        t.detection = d;
        t.lastAt = at;
        t.seen++;
      }
      t.lastSeq = seq;
      // A track followed as not listed is looked at again twice as often: a miss costs an alert, a look an embedding.
      const every = t.agree < 0 ? Math.ceil(this.#o.reembedEvery / 2) : this.#o.reembedEvery;
      const embed = !t.decided || !t.embedding || seq - t.embeddedSeq >= every || faceScore(d) >= this.#o.betterFace * t.quality;
      out[p.d] = { detection: d, track: t, embed };
    }
    for (let i = 0; i < dets.length; i++) {
      if (out[i]) continue;
      const d = dets[i]!;
      const t: FaceTrack = { box: d.box, detection: d, vx: 0, vy: 0, lastAt: at, lastSeq: seq, seen: 1, quality: 0, embeddedSeq: -Infinity, agree: 0, decided: false, fullAsked: 0 };
      this.#tracks.push(t);
      out[i] = { detection: d, track: t, embed: true };
    }
    // A region pass that lost a track's face leaves the track to the next full pass (kept by MAX_GAP_MS).
    return out as FaceTask[];
  }

  /**
   * A region pass's face of `t` failed the quality gates: the next frame gets a full pass (at most
   * three times a track). The landmarks of the two passes differ a little, and a face near a gate's
   * limit passes one and not the other (measured: a walker's pitch read -60..-90 in every region
   * pass, -46 in full passes; his first alert came 2.4 s late, at the next periodic full pass).
   */
  askFull(t: FaceTrack): void {
    if (t.fullAsked >= 3) return;
    t.fullAsked++;
    this.#wantFull = true;
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
    // "Not listed" takes three in a row: a listed person's first faces (entering at the frame's edge,
    // turned) can all fall short, and a track followed as a stranger delays the alert until it is
    // embedded again (measured on bench alerts seed 2: p95 time to alert 0.55 -> 2.36 s with two).
    t.decided = t.agree >= 2 || t.agree <= -3;
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

/** Detector input pixels for a w x h image letterboxed to `side` (longest side; canvas padded to 32), as the detectors make it. */
function canvas(w: number, h: number, side: number): number {
  const g = letterboxGeometry(Math.max(1, w), Math.max(1, h), { maxSide: side, multiple: 32 });
  return g.inputWidth * g.inputHeight;
}

/**
 * Overlapping regions merged into their bounding box (repeated until none overlap), so a face is never
 * detected twice; a merged region that holds a moved one is detected at native resolution, and is
 * settled only if every region in it was.
 */
function mergeRegions(rois: readonly Box[], settled: readonly boolean[], moved: readonly Box[]): { rois: Box[]; settled: boolean[]; moved: Box[] } {
  const all = [...rois.map((box, i) => ({ box, native: false, settled: settled[i] ?? false })), ...moved.map((box) => ({ box, native: true, settled: false }))];
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < all.length && !changed; i++) {
      for (let j = i + 1; j < all.length; j++) {
        const a = all[i]!.box;
        const b = all[j]!.box;
        if (!overlaps(a, b)) continue;
        all[i] = { box: unionBox(a, b), native: all[i]!.native || all[j]!.native, settled: all[i]!.settled && all[j]!.settled };
        all.splice(j, 1);
        changed = true;
        break;
      }
    }
  }
  const rs = all.filter((r) => !r.native);
  return { rois: rs.map((r) => r.box), settled: rs.map((r) => r.settled), moved: all.filter((r) => r.native).map((r) => r.box) };
}

/**
 * Regions around moved grid cells: cells at most one cell apart are one cluster (a walking person is
 * one region, not dozens), each cluster's box grown by a quarter of its longest side (at least two
 * cells) so the whole face is in it when only its edges changed.
 */
function motionRegions(cells: readonly Box[], cols: number, img: RgbImage): Box[] {
  if (cells.length === 0) return [];
  // The whole-frame "cell" of a first frame.
  if (cells.some((c) => boxWidth(c) > GRID)) return [[0, 0, img.width, img.height]];
  const idx = new Map<number, number>(); // cell index -> position in cells
  cells.forEach((c, i) => idx.set((c[1] / GRID) * cols + c[0] / GRID, i));
  const seen = new Uint8Array(cells.length);
  const out: Box[] = [];
  for (let i = 0; i < cells.length; i++) {
    if (seen[i]) continue;
    seen[i] = 1;
    const stack = [i];
    let box: Box = cells[i]!;
    while (stack.length) {
      const c = cells[stack.pop()!]!;
      box = unionBox(box, c);
      const cx = c[0] / GRID;
      const cy = c[1] / GRID;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          if (cx + dx < 0 || cx + dx >= cols) continue;
          const j = idx.get((cy + dy) * cols + cx + dx);
          if (j !== undefined && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    const m = Math.max(2 * GRID, 0.25 * Math.max(boxWidth(box), boxHeight(box)));
    out.push([Math.max(0, box[0] - m), Math.max(0, box[1] - m), Math.min(img.width, box[2] + m), Math.min(img.height, box[3] + m)]);
  }
  return out;
}
