import type { Box, Point, RgbImage } from '../contracts/messages.js';

/** Types of the face engine's parts (detectors, alignment, embedder); pixels, points and boxes are contracts/ values. */

/** One detected face. Landmarks are the 5 ArcFace points in this order:
 * left eye, right eye, nose tip, left mouth corner, right mouth corner (subject's left = image right
 * for a frontal face is NOT used here: "left" means the point with the smaller x on a frontal face). */
export interface Detection {
  readonly box: Box;
  /** Detector confidence, 0..1. */
  readonly score: number;
  readonly landmarks: readonly [Point, Point, Point, Point, Point];
}

export interface Detector {
  /** Model id from the manifest, e.g. "scrfd_2.5g_kps". */
  readonly id: string;
  /**
   * Faces in `img`, coordinates in `img` pixels, best score first. `maxSide`: the longest side `img`
   * is letterboxed to for this call instead of the detector's own size (dynamic-input models only).
   */
  detect(img: RgbImage, maxSide?: number): Promise<Detection[]>;
  close(): Promise<void>;
}
