import sharp, { type OverlayOptions } from 'sharp';
import type { FaceEngine } from '../inference/engine.js';
import { loadRgbFromBuffer } from '../inference/image-io.js';

/**
 * Blurs every face in an exported crop except the subject's (the face nearest the centre: crops are
 * cut around it), so a report does not carry bystanders' faces. Returns the JPEG unchanged when it
 * shows one face or none.
 */
export async function blurBystanders(engine: FaceEngine, jpeg: Buffer): Promise<Buffer> {
  const img = await loadRgbFromBuffer(jpeg, 'crop');
  const dets = await engine.detect(img);
  if (dets.length < 2) return jpeg;
  const cx = img.width / 2;
  const cy = img.height / 2;
  const dist = (b: readonly number[]): number => Math.hypot((b[0]! + b[2]!) / 2 - cx, (b[1]! + b[3]!) / 2 - cy);
  const subject = dets.reduce((a, b) => (dist(b.box) < dist(a.box) ? b : a));
  const overlays: OverlayOptions[] = [];
  for (const d of dets) {
    if (d === subject) continue;
    // the face box plus a margin, clipped to the image
    const m = 0.15 * (d.box[2] - d.box[0]);
    const left = Math.max(0, Math.floor(d.box[0] - m));
    const top = Math.max(0, Math.floor(d.box[1] - m));
    const width = Math.min(img.width, Math.ceil(d.box[2] + m)) - left;
    const height = Math.min(img.height, Math.ceil(d.box[3] + m)) - top;
    if (width < 2 || height < 2) continue;
    const sigma = Math.max(3, Math.min(width, height) / 6);
    overlays.push({ input: await sharp(jpeg).extract({ left, top, width, height }).blur(sigma).toBuffer(), left, top });
  }
  return sharp(jpeg).composite(overlays).jpeg({ quality: 90 }).toBuffer();
}
