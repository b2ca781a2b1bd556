import sharp from 'sharp';
import { loadRgbFromBuffer } from '../../src/inference/image-io.js';
import type { RgbImage } from '../../src/contracts/messages.js';

/**
 * A CCTV-like frame for tests: the photo shrunk by `scale` and pasted, centred, into a grey
 * 640x360 frame, JPEG-compressed (an LFW photo at scale 0.48 shows ~20 px between the eyes).
 */
export async function smallFaceFrame(file: string, scale: number, jpeg = 90): Promise<RgbImage> {
  const frame = { width: 640, height: 360 };
  const meta = await sharp(file).metadata();
  const w = Math.round((meta.width ?? 250) * scale);
  const h = Math.round((meta.height ?? 250) * scale);
  const face = await sharp(file).removeAlpha().resize(w, h, { fit: 'fill' }).raw().toBuffer();
  const out = await sharp({ create: { ...frame, channels: 3, background: { r: 110, g: 110, b: 110 } } })
    .composite([{ input: face, raw: { width: w, height: h, channels: 3 }, left: Math.round((frame.width - w) / 2), top: Math.round((frame.height - h) / 2) }])
    .jpeg({ quality: jpeg })
    .toBuffer();
  return loadRgbFromBuffer(out, file);
}
