import type { Box } from '../contracts/messages.js';

/**
 * Box geometry shared by the detectors (NMS), the matcher's tracker and the inference stage's
 * scheduler, written once.
 */

/** Intersection over union of two boxes (continuous coordinates: area = w * h). */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

export const boxWidth = (b: Box): number => b[2] - b[0];
export const boxHeight = (b: Box): number => b[3] - b[1];

export function centreDistance(a: Box, b: Box): number {
  return Math.hypot((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2, (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2);
}

/** Whether two boxes share any area. */
export const overlaps = (a: Box, b: Box): boolean => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

/** The smallest box holding both. */
export const unionBox = (a: Box, b: Box): Box => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];

/** `b` moved by (dx, dy). */
export const shiftBox = (b: Box, dx: number, dy: number): Box => [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy];

/** `b` grown by `fx` of its width left and right and `fy` of its height above and below, clipped to w x h. */
export function growBox(b: Box, fx: number, fy: number, w: number, h: number): Box {
  const mx = boxWidth(b) * fx;
  const my = boxHeight(b) * fy;
  return [Math.max(0, b[0] - mx), Math.max(0, b[1] - my), Math.min(w, b[2] + mx), Math.min(h, b[3] + my)];
}

/** Dot product (cosine similarity of two L2-normalised embeddings). */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Whether two vectors hold the same numbers. */
export function sameVector(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
