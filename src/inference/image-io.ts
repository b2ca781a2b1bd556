import sharp from 'sharp';
import { VigilError } from '../errors.js';
import type { Box, RgbImage } from '../contracts/messages.js';

/**
 * Decodes an image file (JPEG, PNG, WebP, ...) to packed RGB24. EXIF orientation is applied, so a
 * phone photo comes out upright; alpha is dropped (composited on nothing: the colour channels are kept).
 */
export async function loadRgb(file: string): Promise<RgbImage> {
  return loadRgbFromBuffer(file, file);
}

/** As loadRgb, from bytes already read (`file` names the source in errors). */
export async function loadRgbFromBuffer(input: Uint8Array | string, file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(input).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    throw new VigilError('VIGIL_ERR_IMAGE_DECODE', { file, reason: (err as Error).message }, err);
  }
}

/** Encodes an RGB24 image as JPEG (for snapshots and alert thumbnails). */
export async function encodeJpeg(img: RgbImage, quality = 85): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

/**
 * Copies the part of `img` inside `box`, grown by `marginFrac` of the box's width/height on each side
 * and clipped to the image. Always returns at least a 1x1 image.
 */
export function cropRgb(img: RgbImage, box: Box, marginFrac = 0): RgbImage {
  const bw = box[2] - box[0];
  const bh = box[3] - box[1];
  const mx = bw * marginFrac;
  const my = bh * marginFrac;
  const x1 = clampInt(Math.floor(box[0] - mx), 0, img.width - 1);
  const y1 = clampInt(Math.floor(box[1] - my), 0, img.height - 1);
  const x2 = clampInt(Math.ceil(box[2] + mx), x1 + 1, img.width);
  const y2 = clampInt(Math.ceil(box[3] + my), y1 + 1, img.height);
  const w = x2 - x1;
  const h = y2 - y1;
  const out = new Uint8Array(w * h * 3);
  const rowBytes = w * 3;
  for (let y = 0; y < h; y++) {
    const src = ((y1 + y) * img.width + x1) * 3;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return { width: w, height: h, data: out };
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
