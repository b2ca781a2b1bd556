import type { Box, Point, RgbImage } from '../inference/types.js';

/**
 * Messages between stages. Every message carries its kind and schema version `v`; when a field
 * changes meaning, bump `v` and keep the old decoder (codecs.ts). Stages import only contracts/.
 */

/** A sampled frame. In the embedded mode the pixels travel by reference, never copied. */
export interface FrameMsg {
  readonly kind: 'frame';
  readonly v: 1;
  readonly camera: string;
  /** Per-camera sequence number of sampled frames, from 0. */
  readonly seq: number;
  /** Capture time, epoch ms (a replayed file: its own timeline mapped onto its start time). */
  readonly capturedAt: number;
  /** Seconds from the start of the file; null for a live stream. */
  readonly mediaTime: number | null;
  readonly image: RgbImage;
}

export interface FaceRecord {
  readonly box: Box;
  readonly score: number;
  readonly landmarks: readonly Point[];
  /** L2-normalised embedding. */
  readonly embedding: Float32Array;
  /** JPEG of the face with some margin. */
  readonly crop: Uint8Array;
}

/** The faces found in one frame, embedded. A frame with no face still yields one (empty) message, so order and progress stay visible downstream. */
export interface FacesMsg {
  readonly kind: 'faces';
  readonly v: 1;
  readonly camera: string;
  readonly seq: number;
  readonly capturedAt: number;
  readonly mediaTime: number | null;
  readonly frame: { readonly width: number; readonly height: number };
  /** Profile name and the embedding model id, so a matcher never compares across models. */
  readonly profile: string;
  readonly model: string;
  readonly faces: readonly FaceRecord[];
}

export interface SubjectRef {
  readonly id: string;
  readonly name: string;
}

export interface Candidate {
  readonly subject: SubjectRef;
  readonly similarity: number;
}

/** A face that matched a watchlist subject. The JSON form is the public event schema (README). */
export interface MatchEvent {
  readonly kind: 'match';
  readonly v: 1;
  /** Deterministic: the same face of the same frame matched to the same subject gives the same id. */
  readonly id: string;
  readonly subject: SubjectRef;
  /** Cosine similarity of the best enrollment embedding, -1..1. */
  readonly similarity: number;
  readonly threshold: number;
  /** Best candidates, best first (the matched subject included). */
  readonly candidates: readonly Candidate[];
  readonly camera: string;
  readonly seq: number;
  /** ISO 8601 capture time of the frame. */
  readonly capturedAt: string;
  /** Seconds from the start of a replayed file; null for live cameras. */
  readonly mediaTime: number | null;
  readonly box: Box;
  readonly frame: { readonly width: number; readonly height: number };
  readonly detectorScore: number;
  /** Base64 JPEG of the face. */
  readonly crop: string;
  readonly profile: string;
  readonly model: string;
}

export interface EmbeddingRecord {
  /** Embedding model id (manifest), so embeddings of two models are never mixed. */
  readonly model: string;
  /** sha256 of the enrollment image it came from. */
  readonly image: string;
  readonly vector: readonly number[];
}

export interface SubjectRecord {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Enrollment images: sha256 and original file name; stored under dataDir/enroll for re-embedding. */
  readonly images: readonly { readonly sha256: string; readonly name: string }[];
  readonly embeddings: readonly EmbeddingRecord[];
}

export type WatchlistChange =
  | { readonly kind: 'watchlist'; readonly v: 1; readonly op: 'upsert'; readonly subject: SubjectRecord }
  | { readonly kind: 'watchlist'; readonly v: 1; readonly op: 'remove'; readonly id: string };

/** Topic name -> message type: the bus is typed by this map. */
export interface Topics {
  frames: FrameMsg;
  faces: FacesMsg;
  matches: MatchEvent;
  watchlist: WatchlistChange;
}
export type TopicName = keyof Topics;
export const topicNames = ['frames', 'faces', 'matches', 'watchlist'] as const satisfies readonly TopicName[];
