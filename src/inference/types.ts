/**
 * Types shared by the face engine's parts (detectors, alignment, embedder).
 * Pixel buffers are packed RGB24, row-major, no padding: the layout ffmpeg's `rgb24`
 * and sharp's `.raw()` produce, so frames flow from decoder to model without conversion.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 3 bytes, R,G,B per pixel. */
  readonly data: Uint8Array;
}

/** A point in image pixels. */
export type Point = readonly [x: number, y: number];

/** Axis-aligned box in image pixels: [x1, y1, x2, y2]. */
export type Box = readonly [number, number, number, number];

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
  /** Faces in `img`, coordinates in `img` pixels, best score first. */
  detect(img: RgbImage): Promise<Detection[]>;
  close(): Promise<void>;
}
