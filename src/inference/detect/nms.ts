import { iou } from '../../util/boxes.js';
import type { Detection } from '../types.js';

export { iou };

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
