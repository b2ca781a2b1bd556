import { readFile } from 'node:fs/promises';
import { VigilError } from '../errors.js';
import { faceSize, type AnalyzedFace, type FaceEngine } from '../inference/engine.js';
import { loadRgbFromBuffer } from '../inference/image-io.js';
import type { RgbImage } from '../contracts/messages.js';

/** The image in the middle of a grey canvas `k` times its size: a tight face crop gets the context a detector expects. */
function padded(img: RgbImage, k = 2): RgbImage {
  const w = img.width * k;
  const h = img.height * k;
  const data = new Uint8Array(w * h * 3).fill(128);
  const x0 = Math.floor((w - img.width) / 2);
  const y0 = Math.floor((h - img.height) / 2);
  for (let y = 0; y < img.height; y++) data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * w + x0) * 3);
  return { width: w, height: h, data };
}

/**
 * The face to search for in a photo or a face crop (e.g. an unknown face saved by the matcher, or a
 * crop from an earlier search): the largest face found; a crop too tight for the detector is tried
 * again on a padded canvas. No face: VIGIL_ERR_SEARCH_NO_FACE naming the file.
 */
export async function queryFace(engine: FaceEngine, file: string): Promise<{ face: AnalyzedFace; bytes: Uint8Array; faces: number }> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new VigilError('VIGIL_ERR_IMAGE_DECODE', { file, reason: err.code === 'ENOENT' ? 'no such file' : err.message }, err);
  });
  const img = await loadRgbFromBuffer(bytes, file);
  let faces = await engine.analyze(img);
  if (faces.length === 0) faces = await engine.analyze(padded(img));
  if (faces.length === 0) throw new VigilError('VIGIL_ERR_SEARCH_NO_FACE', { file });
  const face = faces.reduce((a, b) => (faceSize(b.detection) > faceSize(a.detection) ? b : a));
  return { face, bytes, faces: faces.length };
}
