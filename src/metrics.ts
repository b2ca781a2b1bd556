import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (prom-client). One process-wide registry, served at /metrics by the broadcast
 * server; every name starts with `vigil_`. Labels are ids only (camera id, state, reason): never a
 * URL, so no credential can reach a metric. Tests pass their own Registry.
 */
export const registry = new Registry();
let defaultsOn = false;

/** Node's process metrics (CPU, memory, event loop lag) on the process-wide registry, once. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry, prefix: 'vigil_' });
}

export const CAMERA_STATES = ['connecting', 'live', 'stalled', 'backoff', 'disabled', 'ended'] as const;

export interface IngestMetrics {
  readonly registry: Registry;
  /** 1 for the camera's current state, 0 for the others (a Prometheus "state set"). */
  readonly state: Gauge<'camera' | 'state'>;
  /** 1 while frames arrive. */
  readonly up: Gauge<'camera'>;
  readonly frames: Counter<'camera'>;
  /** Frames the bus dropped because inference was behind (live cameras drop the oldest). */
  readonly dropped: Counter<'camera'>;
  /** ffmpeg restarts, by why: stalled, open_timeout, ended, auth, not_found, unreachable, not_video, error. */
  readonly restarts: Counter<'camera' | 'reason'>;
  readonly stalls: Counter<'camera'>;
  /** Time enabled but without frames (connecting, stalled, backing off), s. */
  readonly downtime: Counter<'camera'>;
  readonly lastFrame: Gauge<'camera'>;
  /** Current wait before the next restart, s (0 when not backing off). */
  readonly backoff: Gauge<'camera'>;
}

const cache = new WeakMap<Registry, IngestMetrics>();

/** The ingest metrics on `reg` (created once per registry). */
export function ingestMetrics(reg: Registry = registry): IngestMetrics {
  const have = cache.get(reg);
  if (have) return have;
  const registers = [reg];
  const m: IngestMetrics = {
    registry: reg,
    state: new Gauge({ name: 'vigil_camera_state', help: 'Camera state: 1 for the current one (connecting, live, stalled, backoff, disabled, ended)', labelNames: ['camera', 'state'], registers }),
    up: new Gauge({ name: 'vigil_camera_up', help: '1 while the camera delivers frames', labelNames: ['camera'], registers }),
    frames: new Counter({ name: 'vigil_camera_frames_total', help: 'Frames sampled from the camera', labelNames: ['camera'], registers }),
    dropped: new Counter({ name: 'vigil_camera_frames_dropped_total', help: 'Frames dropped because inference was behind', labelNames: ['camera'], registers }),
    restarts: new Counter({ name: 'vigil_camera_restarts_total', help: 'Camera (ffmpeg) restarts by reason', labelNames: ['camera', 'reason'], registers }),
    stalls: new Counter({ name: 'vigil_camera_stalls_total', help: 'Times the stall watchdog found no frame for stallTimeoutMs', labelNames: ['camera'], registers }),
    downtime: new Counter({ name: 'vigil_camera_downtime_seconds_total', help: 'Seconds enabled without frames (connecting, stalled, backing off)', labelNames: ['camera'], registers }),
    lastFrame: new Gauge({ name: 'vigil_camera_last_frame_timestamp_seconds', help: 'Wall-clock time of the last frame, Unix seconds', labelNames: ['camera'], registers }),
    backoff: new Gauge({ name: 'vigil_camera_backoff_seconds', help: 'Wait before the next restart, s', labelNames: ['camera'], registers }),
  };
  cache.set(reg, m);
  return m;
}

export const RESTART_REASONS = ['stalled', 'open_timeout', 'ended', 'auth', 'not_found', 'unreachable', 'not_video', 'error'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** Drops every series of a camera (it was removed from the config). */
export function forgetCamera(m: IngestMetrics, camera: string): void {
  for (const g of [m.up, m.lastFrame, m.backoff]) g.remove({ camera });
  for (const c of [m.frames, m.dropped, m.stalls, m.downtime]) c.remove({ camera });
  for (const state of CAMERA_STATES) m.state.remove({ camera, state });
  for (const reason of RESTART_REASONS) m.restarts.remove({ camera, reason });
}

export interface FaceMetrics {
  readonly dropped: Counter<'gate'>;
  readonly unknown: Counter<'camera'>;
  readonly alerts: Counter<'camera' | 'type'>;
  /** Face messages a matcher could not match: embedded by another model than its index (infer and match on different profiles). */
  readonly profileMismatch: Counter<'face_model' | 'index_model'>;
}

const faceCache = new WeakMap<Registry, FaceMetrics>();

/** Inference and matcher metrics on `reg` (created once per registry). Labels stay bounded: no subject or track ids. */
export function faceMetrics(reg: Registry = registry): FaceMetrics {
  const have = faceCache.get(reg);
  if (have) return have;
  const registers = [reg];
  const m: FaceMetrics = {
    dropped: new Counter({ name: 'vigil_faces_dropped_total', help: 'Faces dropped by a quality gate before embedding', labelNames: ['gate'], registers }),
    unknown: new Counter({ name: 'vigil_unknown_faces_total', help: 'Faces that matched nobody on the watchlist', labelNames: ['camera'], registers }),
    alerts: new Counter({ name: 'vigil_alerts_total', help: 'Alert events sent: type alert (a new appearance) or update (a better face)', labelNames: ['camera', 'type'], registers }),
    profileMismatch: new Counter({
      name: 'vigil_profile_mismatch_total',
      help: 'Face messages the matcher could not match: embedded by another model than its watchlist index (infer and match on different profiles); no alert can come from them',
      labelNames: ['face_model', 'index_model'],
      registers,
    }),
  };
  faceCache.set(reg, m);
  return m;
}
