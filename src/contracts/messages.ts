import { z } from 'zod';

/**
 * Messages between stages, written once: each is a zod schema and its type is inferred from it
 * (`Msg<typeof schema>`), so the type the stages use and the check the wire codecs run
 * (codecs.ts) cannot drift apart. Every message carries its kind and schema version `v`; when a
 * field changes meaning, bump `v` and keep the old decoder (codecs.ts). Stages import only
 * contracts/, and contracts import nothing from a stage.
 *
 * The in-memory bus never runs these schemas (frames travel by reference); the codecs do, on their
 * wire forms, which replace the binary fields (pixels, embeddings, crops) by their encodings.
 */

/** A message type as the stages see it: every field read-only; typed arrays as they are. */
export type Msg<S extends z.ZodType> = Immutable<z.infer<S>>;
type Immutable<T> = T extends Uint8Array | Float32Array | string | number | boolean | null | undefined ? T : { readonly [K in keyof T]: Immutable<T[K]> };

export const num = z.number().finite();
const count = z.number().int().nonnegative();
/** In-memory binary fields (any backing buffer: Node's Buffers share a pool). */
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected a Uint8Array');
const floats = z.custom<Float32Array>((v) => v instanceof Float32Array, 'expected a Float32Array');
const size = z.strictObject({ width: z.number().int().positive(), height: z.number().int().positive() });

// Values shared by the stages.

/** A point in image pixels. */
export const point = z.tuple([num, num]);
export type Point = Msg<typeof point>;

/** Axis-aligned box in image pixels: [x1, y1, x2, y2]. */
export const box = z.tuple([num, num, num, num]);
export type Box = Msg<typeof box>;

/**
 * Pixels: packed RGB24, row-major, no padding (`data` is width * height * 3 bytes, R,G,B per pixel):
 * the layout ffmpeg's `rgb24` and sharp's `.raw()` produce, so frames flow from decoder to model
 * without conversion.
 */
export const rgbImage = z.strictObject({ ...size.shape, data: bytes });
export type RgbImage = Msg<typeof rgbImage>;

// frames

/** Which frame: the fields a frame and the faces found in it share. */
const frameRef = {
  camera: z.string(),
  /** Per-camera sequence number of sampled frames, from 0. */
  seq: count,
  /** Capture time, epoch ms (a replayed file: its own timeline mapped onto its start time). */
  capturedAt: num,
  /** Seconds from the start of the file; null for a live stream. */
  mediaTime: num.nullable(),
};

/** A sampled frame. In the embedded mode the pixels travel by reference, never copied. */
export const frameV1 = z.strictObject({
  kind: z.literal('frame'),
  v: z.literal(1),
  ...frameRef,
  /**
   * Live cameras: the stream's own presentation time of the frame, s, on ffmpeg's clock for the
   * current connection (it restarts at each reconnect). capturedAt is the wall clock at receipt;
   * this keeps the camera's own spacing and order, free of network and decoding jitter.
   */
  streamTime: num.nullable().optional(),
  image: rgbImage,
});
export type FrameMsg = Msg<typeof frameV1>;

// faces

export const faceRecord = z.strictObject({
  box,
  score: num,
  landmarks: z.array(point),
  /** L2-normalised embedding. */
  embedding: floats,
  /** JPEG of the face with some margin. */
  crop: bytes,
});
export type FaceRecord = Msg<typeof faceRecord>;

/** The faces found in one frame, embedded. A frame with no face still yields one (empty) message, so order and progress stay visible downstream. */
export const facesV1 = z.strictObject({
  kind: z.literal('faces'),
  v: z.literal(1),
  ...frameRef,
  frame: size,
  /** Profile name and the embedding model id, so a matcher never compares across models. */
  profile: z.string(),
  model: z.string(),
  faces: z.array(faceRecord),
});
export type FacesMsg = Msg<typeof facesV1>;

// matches

export const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
export const subjectRef = z.strictObject({ id: z.string(), name: z.string() });
export type SubjectRef = Msg<typeof subjectRef>;
export const candidate = z.strictObject({ subject: subjectRef, similarity: num });
export type Candidate = Msg<typeof candidate>;

/** The pseudonymous visitor an unknown-visitor alert names (v1; see matchV2.visitor). */
export const visitorRef = z.strictObject({
  v: z.literal(1),
  /** The pseudonym's number: "unknown #17"; never reused, even after the visitor is purged. */
  number: z.number().int().positive(),
  pseudonym: z.string(),
  /** Visits (face tracks; those at one camera close together merged) on the local day of this face's capture, this one included. */
  visitsToday: count,
  visits: count,
  /** The visitor was first seen with this track. */
  isNew: z.boolean(),
});
export type VisitorRef = Msg<typeof visitorRef>;

/** Which rule raised an alert: one face well above the threshold, or k of a track's last n faces. */
export const alertRule = z.enum(['strong', 'k-of-n']);
export type AlertRule = Msg<typeof alertRule>;

/** v1: one event per matching face (the walking skeleton). Still decoded, upgraded to v2 (codecs.ts). */
export const matchV1 = z.strictObject({
  kind: z.literal('match'),
  v: z.literal(1),
  /** Alert id, deterministic (camera, track start, subject): a redelivered alert has the same id. */
  id: z.string(),
  subject: subjectRef,
  /** Cosine similarity of the best face so far to the subject's best enrollment embedding, -1..1. */
  similarity: num,
  threshold: num,
  /** Best candidates for the best face, best first (the matched subject included). */
  candidates: z.array(candidate),
  camera: z.string(),
  seq: count,
  /** ISO 8601 capture time of the best face (this event's crop and box). */
  capturedAt: z.iso.datetime(),
  /** Seconds from the start of a replayed file for the best face; null for live cameras. */
  mediaTime: num.nullable(),
  box,
  frame: size,
  detectorScore: num,
  /** Base64 JPEG of the best face. */
  crop: b64,
  profile: z.string(),
  model: z.string(),
});

/**
 * An alert: a watchlist subject appeared on a camera. One per appearance (a face track); later,
 * better faces of the same track send `type: 'update'` with the same `id` and a higher `revision`.
 * The JSON form is the public event schema (README). v2; v1 (one event per matching face) is still
 * decoded by codecs.ts.
 */
export const matchV2 = z.strictObject({
  ...matchV1.shape,
  v: z.literal(2),
  type: z.enum(['alert', 'update']),
  /** 0 for the alert, then 1, 2, ... for its updates; (id, revision) identifies one event. */
  revision: count,
  /** similarity minus the best candidate of another subject (0 when there is none) */
  margin: num,
  rule: alertRule,
  /** Face track the alert belongs to (per camera). */
  trackId: z.string(),
  /** ISO 8601 capture time of the track's first face. */
  firstSeenAt: z.iso.datetime(),
  /** ISO 8601 capture time of the face that raised the alert. */
  alertAt: z.iso.datetime(),
  /** The earlier alert for the same subject on another camera, if any. */
  related: z.strictObject({ id: z.string(), camera: z.string() }).nullable(),
  /** The most urgent of the subject's watchlists whose operating point the face met, and its priority (absent: on no list). */
  list: z.string().optional(),
  priority: z.number().int().optional(),
  /**
   * Additive (visitor v1, issue 13): set only on an unknown-visitor alert (config visitors.alertCameras):
   * a face that matched nobody on the watchlist, named by its pseudonymous visitor. Then `subject` is
   * `{ id: "visitor:<number>", name: "unknown #<number>" }`, `similarity` the face's similarity to that
   * visitor (1 for a new one), `threshold` the visitor threshold, `candidates` the watchlist's best
   * (all below their threshold), `rule` "k-of-n" (k of the track's last n faces matched nobody).
   */
  visitor: visitorRef.optional(),
});
export type MatchEvent = Msg<typeof matchV2>;

// watchlist

export const embeddingRecord = z.strictObject({
  /** Embedding model id (manifest), so embeddings of two models are never mixed. */
  model: z.string(),
  /** sha256 of the enrollment image it came from. */
  image: z.string(),
  vector: z.array(num),
});
export type EmbeddingRecord = Msg<typeof embeddingRecord>;

export const subjectRecord = z.strictObject({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Enrollment images: sha256 and original file name; stored under dataDir/enroll for re-embedding. */
  images: z.array(z.strictObject({ sha256: z.string(), name: z.string() })),
  embeddings: z.array(embeddingRecord),
  /** Watchlists the subject is on (none: only the default operating point applies). */
  lists: z.array(z.string()).optional(),
  /** ISO time after which the subject no longer matches (e.g. a warrant's end). */
  expiresAt: z.string().optional(),
});
export type SubjectRecord = Msg<typeof subjectRecord>;

export const watchlistV1 = z.discriminatedUnion('op', [
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(1), op: z.literal('upsert'), subject: subjectRecord }),
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(1), op: z.literal('remove'), id: z.string() }),
]);
/**
 * v2 adds what the matcher needs besides subjects, so the distributed matcher applies the embedded
 * one's rules: a list's settings (keyed `list/<name>`: compaction keeps the latest) and the
 * negative examples of one subject for one model (keyed `negatives/<model>/<subject>`: the whole
 * set each time, empty after a removal, so compaction keeps the latest set).
 */
export const listRecord = z.strictObject({
  name: z.string(),
  priority: z.number().int(),
  colour: z.string().nullable(),
  threshold: num.nullable(),
  targetFpir: num.nullable(),
});
export const watchlistV2 = z.discriminatedUnion('op', [
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(2), op: z.literal('list'), list: listRecord }),
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(2), op: z.literal('negatives'), subject: z.string(), model: z.string(), vectors: z.array(z.array(num)) }),
]);
export type WatchlistChange = Msg<typeof watchlistV1> | Msg<typeof watchlistV2>;

// dismissals

/**
 * An operator dismissed an alert as a false match (distributed mode: the broadcaster's
 * acknowledgement API). Every matcher replica reads it; the one that still holds the alert's face
 * publishes it as a negative example of the subject on the watchlist topic.
 */
export const dismissalV1 = z.strictObject({
  kind: z.literal('dismissal'),
  v: z.literal(1),
  alertId: z.string(),
  subject: z.string(),
  camera: z.string(),
  actor: z.string(),
  at: z.iso.datetime(),
});
export type DismissalMsg = Msg<typeof dismissalV1>;

// status

/** A camera's ingest state (src/ingest/camera.ts has the transitions). */
export const cameraState = z.enum(['connecting', 'live', 'stalled', 'backoff', 'disabled', 'ended', 'stopped']);
export type CameraState = Msg<typeof cameraState>;

/**
 * A camera changed state; published on each change and never dropped. The broadcaster forwards it to
 * monitoring clients as JSON. The URL and error are redacted: credentials never leave the ingest.
 */
export const statusV1 = z.strictObject({
  kind: z.literal('camera-status'),
  v: z.literal(1),
  camera: z.string(),
  name: z.string().nullable(),
  state: cameraState,
  previous: cameraState.nullable(),
  /** ISO 8601 time of the change. */
  at: z.iso.datetime(),
  /** The camera URL, credentials redacted. */
  url: z.string(),
  /** Failed starts in a row (back to 0 once live for ingest.stableAfterMs). */
  attempt: count,
  /** In 'backoff': the wait before the next start, ms; otherwise null. */
  retryInMs: num.nonnegative().nullable(),
  /** Frames sampled since Vigil started. */
  frames: count,
  /** ISO 8601 wall-clock time of the last frame; null before the first. */
  lastFrameAt: z.iso.datetime().nullable(),
  /** Why the camera is not live (code and redacted message); null when live. */
  error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
});
export type CameraStatus = Msg<typeof statusV1>;

/**
 * A sighting: one face track of a watchlist subject, from its first to its last face, sent when the
 * track ends. Unlike match events it is sent for every appearance, also those the cooldown folds
 * into an earlier alert or that bring no better face: audits list every time a person was seen.
 */
export const sightingV1 = z.strictObject({
  kind: z.literal('sighting'),
  v: z.literal(1),
  /** Deterministic (camera, track start, subject), like alert ids. */
  id: z.string(),
  /** The alert this appearance belongs to (its own, or the earlier one the cooldown folded it into). */
  alertId: z.string(),
  subject: subjectRef,
  camera: z.string(),
  trackId: z.string(),
  /** ISO 8601 capture times of the track's first and last face naming the subject. */
  firstSeenAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  /** Seconds from the start of a replayed file (first and last face); null for live cameras. */
  firstMediaTime: num.nullable(),
  lastMediaTime: num.nullable(),
  /** Faces of the track that named the subject above the threshold. */
  faces: z.number().int().positive(),
  /** Best face: its similarity, capture time, media time, box and base64 JPEG crop. */
  similarity: num,
  threshold: num,
  bestAt: z.iso.datetime(),
  bestMediaTime: num.nullable(),
  box,
  frame: size,
  crop: b64,
  profile: z.string(),
  model: z.string(),
});
export type SightingMsg = Msg<typeof sightingV1>;

// audit requests

/**
 * An operator or admin action to be recorded in the distributed mode's audit log: services send it
 * to the single-partition `audit-requests` topic and the one audit writer chains it (src/audit/kafka.ts).
 * `id` makes a redelivered request recognisable, so it is recorded once.
 */
export const auditRequestV1 = z.strictObject({
  kind: z.literal('audit-request'),
  v: z.literal(1),
  id: z.string().min(1).max(100),
  /** Who and what, plus details (subject, alert, camera, note, ...), as AuditEntry. */
  entry: z.looseObject({ actor: z.string().min(1), action: z.string().min(1) }),
});
export type AuditRequestMsg = z.infer<typeof auditRequestV1>;

/** Topic name -> message type: the bus is typed by this map. */
export interface Topics {
  frames: FrameMsg;
  faces: FacesMsg;
  matches: MatchEvent;
  watchlist: WatchlistChange;
  status: CameraStatus;
  sightings: SightingMsg;
  dismissals: DismissalMsg;
  'audit-requests': AuditRequestMsg;
}
export type TopicName = keyof Topics;
export const topicNames = ['frames', 'faces', 'matches', 'watchlist', 'status', 'sightings', 'dismissals', 'audit-requests'] as const satisfies readonly TopicName[];
