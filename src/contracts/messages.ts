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
  /**
   * Live cameras: the stream's own presentation time of the frame, s, on ffmpeg's clock for the
   * current connection (it restarts at each reconnect). capturedAt is the wall clock at receipt;
   * this keeps the camera's own spacing and order, free of network and decoding jitter.
   */
  readonly streamTime?: number | null;
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

/** Which rule raised an alert: one face well above the threshold, or k of a track's last n faces. */
export type AlertRule = 'strong' | 'k-of-n';

/**
 * An alert: a watchlist subject appeared on a camera. One per appearance (a face track); later,
 * better faces of the same track send `type: 'update'` with the same `id` and a higher `revision`.
 * The JSON form is the public event schema (README). v2; v1 (one event per matching face) is still
 * decoded by codecs.ts.
 */
export interface MatchEvent {
  readonly kind: 'match';
  readonly v: 2;
  /** Alert id, deterministic (camera, track start, subject): a redelivered alert has the same id. */
  readonly id: string;
  readonly type: 'alert' | 'update';
  /** 0 for the alert, then 1, 2, ... for its updates; (id, revision) identifies one event. */
  readonly revision: number;
  readonly subject: SubjectRef;
  /** Cosine similarity of the best face so far to the subject's best enrollment embedding, -1..1. */
  readonly similarity: number;
  /** similarity minus the best candidate of another subject (0 when there is none) */
  readonly margin: number;
  readonly threshold: number;
  /** Best candidates for the best face, best first (the matched subject included). */
  readonly candidates: readonly Candidate[];
  readonly rule: AlertRule;
  readonly camera: string;
  /** Face track the alert belongs to (per camera). */
  readonly trackId: string;
  /** ISO 8601 capture time of the track's first face. */
  readonly firstSeenAt: string;
  /** ISO 8601 capture time of the face that raised the alert. */
  readonly alertAt: string;
  /** ISO 8601 capture time of the best face (this event's crop and box). */
  readonly capturedAt: string;
  /** Seconds from the start of a replayed file for the best face; null for live cameras. */
  readonly mediaTime: number | null;
  readonly seq: number;
  readonly box: Box;
  readonly frame: { readonly width: number; readonly height: number };
  readonly detectorScore: number;
  /** Base64 JPEG of the best face. */
  readonly crop: string;
  /** The earlier alert for the same subject on another camera, if any. */
  readonly related: { readonly id: string; readonly camera: string } | null;
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

/** A camera's ingest state (src/ingest/supervisor.ts has the transitions). */
export type CameraState = 'connecting' | 'live' | 'stalled' | 'backoff' | 'disabled' | 'ended' | 'stopped';

/**
 * A camera changed state; published on each change and never dropped. The broadcaster forwards it to
 * monitoring clients as JSON. The URL and error are redacted: credentials never leave the ingest.
 */
export interface CameraStatus {
  readonly kind: 'camera-status';
  readonly v: 1;
  readonly camera: string;
  readonly name: string | null;
  readonly state: CameraState;
  readonly previous: CameraState | null;
  /** ISO 8601 time of the change. */
  readonly at: string;
  /** The camera URL, credentials redacted. */
  readonly url: string;
  /** Failed starts in a row (back to 0 once live for ingest.stableAfterMs). */
  readonly attempt: number;
  /** In 'backoff': the wait before the next start, ms; otherwise null. */
  readonly retryInMs: number | null;
  /** Frames sampled since Vigil started. */
  readonly frames: number;
  /** ISO 8601 wall-clock time of the last frame; null before the first. */
  readonly lastFrameAt: string | null;
  /** Why the camera is not live (code and redacted message); null when live. */
  readonly error: { readonly code: string; readonly message: string } | null;
}

/**
 * A sighting: one face track of a watchlist subject, from its first to its last face, sent when the
 * track ends. Unlike match events it is sent for every appearance, also those the cooldown folds
 * into an earlier alert or that bring no better face: audits list every time a person was seen.
 */
export interface SightingMsg {
  readonly kind: 'sighting';
  readonly v: 1;
  /** Deterministic (camera, track start, subject), like alert ids. */
  readonly id: string;
  /** The alert this appearance belongs to (its own, or the earlier one the cooldown folded it into). */
  readonly alertId: string;
  readonly subject: SubjectRef;
  readonly camera: string;
  readonly trackId: string;
  /** ISO 8601 capture times of the track's first and last face naming the subject. */
  readonly firstSeenAt: string;
  readonly lastSeenAt: string;
  /** Seconds from the start of a replayed file (first and last face); null for live cameras. */
  readonly firstMediaTime: number | null;
  readonly lastMediaTime: number | null;
  /** Faces of the track that named the subject above the threshold. */
  readonly faces: number;
  /** Best face: its similarity, capture time, media time, box and base64 JPEG crop. */
  readonly similarity: number;
  readonly threshold: number;
  readonly bestAt: string;
  readonly bestMediaTime: number | null;
  readonly box: Box;
  readonly frame: { readonly width: number; readonly height: number };
  readonly crop: string;
  readonly profile: string;
  readonly model: string;
}

/** Topic name -> message type: the bus is typed by this map. */
export interface Topics {
  frames: FrameMsg;
  faces: FacesMsg;
  matches: MatchEvent;
  watchlist: WatchlistChange;
  status: CameraStatus;
  sightings: SightingMsg;
}
export type TopicName = keyof Topics;
export const topicNames = ['frames', 'faces', 'matches', 'watchlist', 'status', 'sightings'] as const satisfies readonly TopicName[];
