import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

/** Seconds, 5 ms to 60 s: stage times (ms) to end-to-end delays under load (s). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

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
  };
  faceCache.set(reg, m);
  return m;
}

export interface SinkMetrics {
  /** Deliveries by outcome: ok, retry (a failed try that will be retried), dead (moved to the dead letters). */
  readonly deliveries: Counter<'sink' | 'outcome'>;
  /** Dead letters stored for the sink (read from sinks.db at start, then counted). */
  readonly deadLetters: Gauge<'sink'>;
  /** Failed tries in a row; 0 once a delivery succeeds. */
  readonly failing: Gauge<'sink'>;
  /** Events read from the store but not yet delivered (a page at most). */
  readonly pending: Gauge<'sink'>;
  /** Event time (alert raised, camera state changed) to acknowledged delivery, s. */
  readonly delay: Histogram<'sink'>;
}

const sinkCache = new WeakMap<Registry, SinkMetrics>();

/** Outbound alert (webhook, MQTT) metrics on `reg`; label `sink` is the configured sink id. */
export function sinkMetrics(reg: Registry = registry): SinkMetrics {
  const have = sinkCache.get(reg);
  if (have) return have;
  const registers = [reg];
  const m: SinkMetrics = {
    deliveries: new Counter({ name: 'vigil_sink_deliveries_total', help: 'Sink delivery tries by outcome (ok, retry, dead)', labelNames: ['sink', 'outcome'], registers }),
    deadLetters: new Gauge({ name: 'vigil_sink_dead_letters', help: 'Events the sink gave up on (dead letters stored)', labelNames: ['sink'], registers }),
    failing: new Gauge({ name: 'vigil_sink_consecutive_failures', help: 'Failed delivery tries in a row (0 when the last succeeded)', labelNames: ['sink'], registers }),
    pending: new Gauge({ name: 'vigil_sink_pending_events', help: 'Events read from the event store not yet delivered by the sink', labelNames: ['sink'], registers }),
    delay: new Histogram({ name: 'vigil_sink_delivery_delay_seconds', help: 'Event time to acknowledged delivery by the sink, s', labelNames: ['sink'], buckets: LATENCY_BUCKETS, registers }),
  };
  sinkCache.set(reg, m);
  return m;
}
