import type { Point, RgbImage } from '../contracts/messages.js';
import type { Detection } from './types.js';

/** 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a*x + b*y + tx, y' = c*x + d*y + ty. */
export type Affine = readonly [number, number, number, number, number, number];

/** The standard ArcFace 112x112 5-point template (left eye, right eye, nose, left/right mouth corner). */
export const ARCFACE_TEMPLATE: readonly [Point, Point, Point, Point, Point] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

export const ALIGNED_SIZE = 112;

/**
 * Least-squares similarity transform (rotation, uniform scale, translation; no reflection) mapping
 * `src` onto `dst` (Umeyama 1991). In 2D the optimum has the closed form, over centred points:
 *   a = Σ(sx·dx + sy·dy) / Σ(sx² + sy²),  b = Σ(sx·dy − sy·dx) / Σ(sx² + sy²),
 *   M = [a, −b, tx; b, a, ty], t = mean(dst) − [a −b; b a]·mean(src).
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new Error(`estimateSimilarity: need >= 2 point pairs, got ${n} and ${dst.length}`);
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i]![0];
    msy += src[i]![1];
    mdx += dst[i]![0];
    mdy += dst[i]![1];
  }
  msx /= n;
  msy /= n;
  mdx /= n;
  mdy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]![0] - msx;
    const sy = src[i]![1] - msy;
    const dx = dst[i]![0] - mdx;
    const dy = dst[i]![1] - mdy;
    num1 += sx * dx + sy * dy;
    num2 += sx * dy - sy * dx;
    den += sx * sx + sy * sy;
  }
  if (!(den > 1e-12)) throw new Error('estimateSimilarity: source points coincide');
  const a = num1 / den;
  const b = num2 / den;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

export function transformPoint(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (Math.abs(det) < 1e-12) throw new Error('invertAffine: singular matrix');
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

/**
 * Warps `img` by `m` (source -> output pixel coordinates, integer coordinates = pixel centres, as
 * OpenCV's warpAffine) into an outW x outH RGB image, sampling bilinearly through the inverse matrix.
 * Taps that fall outside the source count as black (OpenCV's BORDER_CONSTANT 0). Writes into `out`
 * when it has the right length (reuse it across faces), else allocates.
 */
export function warpAffine(img: RgbImage, m: Affine, outW = ALIGNED_SIZE, outH = ALIGNED_SIZE, out?: Uint8Array): RgbImage {
  const size = outW * outH * 3;
  const dst = out && out.length === size ? out : new Uint8Array(size);
  const [ia, ib, itx, ic, id, ity] = invertAffine(m);
  const { width: W, height: H, data: s } = img;
  const stride = W * 3;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    let fx = ib * y + itx;
    let fy = id * y + ity;
    for (let x = 0; x < outW; x++, fx += ia, fy += ic, o += 3) {
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      if (x0 < -1 || y0 < -1 || x0 >= W || y0 >= H) {
        dst[o] = 0;
        dst[o + 1] = 0;
        dst[o + 2] = 0;
        continue;
      }
      const wx = fx - x0;
      const wy = fy - y0;
      const w00 = (1 - wx) * (1 - wy);
      const w01 = wx * (1 - wy);
      const w10 = (1 - wx) * wy;
      const w11 = wx * wy;
      const p = y0 * stride + x0 * 3;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const q = p + stride;
        dst[o] = s[p]! * w00 + s[p + 3]! * w01 + s[q]! * w10 + s[q + 3]! * w11 + 0.5;
        dst[o + 1] = s[p + 1]! * w00 + s[p + 4]! * w01 + s[q + 1]! * w10 + s[q + 4]! * w11 + 0.5;
        dst[o + 2] = s[p + 2]! * w00 + s[p + 5]! * w01 + s[q + 2]! * w10 + s[q + 5]! * w11 + 0.5;
      } else {
        // Border: only the taps inside the image contribute.
        const in0x = x0 >= 0, in1x = x0 + 1 < W, in0y = y0 >= 0, in1y = y0 + 1 < H;
        for (let ch = 0; ch < 3; ch++) {
          let v = 0;
          if (in0y && in0x) v += s[p + ch]! * w00;
          if (in0y && in1x) v += s[p + 3 + ch]! * w01;
          if (in1y && in0x) v += s[p + stride + ch]! * w10;
          if (in1y && in1x) v += s[p + stride + 3 + ch]! * w11;
          dst[o + ch] = v + 0.5;
        }
      }
    }
  }
  return { width: outW, height: outH, data: dst };
}

/**
 * The 112x112 ArcFace crop of the face with these 5 landmarks: least-squares similarity fit of the
 * landmarks to {@link ARCFACE_TEMPLATE}, then {@link warpAffine}. Pass `out` (112*112*3 bytes) to reuse.
 */
export function alignFace(img: RgbImage, landmarks: Detection['landmarks'] | readonly Point[], out?: Uint8Array): RgbImage {
  return warpAffine(img, estimateSimilarity(landmarks, ARCFACE_TEMPLATE), ALIGNED_SIZE, ALIGNED_SIZE, out);
}
