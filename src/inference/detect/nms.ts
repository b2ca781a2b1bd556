import type { Box } from '../../contracts/messages.js';
import type { Detection } from '../types.js';

/** Intersection over union of two boxes (continuous coordinates: area = w * h). */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: best score first, drop every box whose IoU with an already kept
 * box is above `iouThreshold`. Returns the kept detections, best score first; the input is not modified.
 */
export function nms<T extends Detection>(dets: readonly T[], iouThreshold: number, maxKeep = Infinity): T[] {
  const n = dets.length;
  if (n === 0) return [];
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => dets[j]!.score - dets[i]!.score);
  const removed = new Uint8Array(n);
  const kept: T[] = [];
  for (let k = 0; k < n && kept.length < maxKeep; k++) {
    const i = order[k]!;
    if (removed[i]) continue;
    const a = dets[i]!;
    kept.push(a);
    for (let m = k + 1; m < n; m++) {
      const j = order[m]!;
      if (!removed[j] && iou(a.box, dets[j]!.box) > iouThreshold) removed[j] = 1;
    }
  }
  return kept;
}
