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
  // Gauges named *_total break Prometheus naming (`promtool check metrics`); each is the sum of the
  // same metric without the suffix, labelled by type, which stays.
  for (const n of ['active_handles', 'active_requests', 'active_resources']) registry.removeSingleMetric(`vigil_nodejs_${n}_total`);
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

export interface StageTimes {
  /** Capture of the frame whose face raised an alert to the alert's publication, s (a fast replay maps capture times ahead of the clock: 0). */
  readonly frameToAlert: Histogram<'camera'>;
  /** One inference batch (detect + align + embed + crops of all its frames), s. */
  readonly inferenceBatch: Histogram;
  /** Frames per inference batch. */
  readonly inferenceBatchSize: Histogram;
  /** Face detection of one frame, s. */
  readonly detect: Histogram;
  /** One embedding model call (all the faces of a batch), s. */
  readonly embed: Histogram;
  /** One watchlist index search (top-k), s. */
  readonly search: Histogram;
  /** One event store append (durable), s. */
  readonly storeWrite: Histogram;
  /** Event time (alert raised, better face captured) to sending it to WebSocket clients, s. */
  readonly wsDelay: Histogram;
}

const FAST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const stageCache = new WeakMap<Registry, StageTimes>();

/** Timings of the pipeline's stages on `reg` (created once per registry). Label `camera` at most: never a subject. */
export function stageTimes(reg: Registry = registry): StageTimes {
  const have = stageCache.get(reg);
  if (have) return have;
  const registers = [reg];
  const m: StageTimes = {
    frameToAlert: new Histogram({ name: 'vigil_frame_to_alert_seconds', help: 'Frame capture to alert published, s', labelNames: ['camera'], buckets: LATENCY_BUCKETS, registers }),
    inferenceBatch: new Histogram({ name: 'vigil_inference_batch_seconds', help: 'One inference batch: detection, alignment, embedding and crops of its frames, s', buckets: LATENCY_BUCKETS, registers }),
    inferenceBatchSize: new Histogram({ name: 'vigil_inference_batch_frames', help: 'Frames per inference batch', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers }),
    detect: new Histogram({ name: 'vigil_detect_seconds', help: 'Face detection of one frame, s', buckets: LATENCY_BUCKETS, registers }),
    embed: new Histogram({ name: 'vigil_embed_seconds', help: 'One embedding model call (the faces of a batch), s', buckets: LATENCY_BUCKETS, registers }),
    search: new Histogram({ name: 'vigil_matcher_search_seconds', help: 'One watchlist index search, s', buckets: FAST_BUCKETS, registers }),
    storeWrite: new Histogram({ name: 'vigil_event_store_write_seconds', help: 'One durable event store append, s', buckets: FAST_BUCKETS, registers }),
    wsDelay: new Histogram({ name: 'vigil_ws_delivery_delay_seconds', help: 'Event time to sending it to WebSocket clients, s', buckets: LATENCY_BUCKETS, registers }),
  };
  stageCache.set(reg, m);
  return m;
}

/** Runs `run` and observes its duration (settled or thrown) on `h`. */
export async function timed<T>(h: Histogram, run: () => Promise<T>): Promise<T> {
  const end = h.startTimer();
  try {
    return await run();
  } finally {
    end();
  }
}

/** Seconds since an ISO time (0 when it lies ahead: clocks of two machines). */
export const secondsSince = (iso: string): number => Math.max(0, Date.now() - Date.parse(iso)) / 1000;

type QueueStats = () => Record<string, { depth: number }>;
const watched = new Map<QueueStats, Record<string, number>>();
let queueGauges: Registry | undefined;

/**
 * Queue depth and capacity per topic of the embedded bus, read when Prometheus scrapes (no cost on
 * the hot path). Saturation = depth / capacity (docs/prometheus-rules.yml). Returns unwatch.
 */
export function watchQueues(stats: QueueStats, capacity: Record<string, number>, reg: Registry = registry): () => void {
  watched.set(stats, capacity);
  if (queueGauges !== reg) {
    queueGauges = reg;
    const sum = (pick: (depth: number, cap: number) => number) => (topic: string): number => {
      let n = 0;
      for (const [s, caps] of watched) n += pick(s()[topic]?.depth ?? 0, caps[topic] ?? 0);
      return n;
    };
    const depth = sum((d) => d);
    const cap = sum((_d, c) => c);
    const topics = (): string[] => [...new Set([...watched.values()].flatMap((c) => Object.keys(c)))];
    new Gauge({
      name: 'vigil_queue_depth',
      help: 'Messages waiting in the embedded bus, by topic (all consumer groups)',
      labelNames: ['topic'],
      registers: [reg],
      collect() {
        this.reset();
        for (const t of topics()) this.set({ topic: t }, depth(t));
      },
    });
    new Gauge({
      name: 'vigil_queue_capacity',
      help: 'Queue capacity of the embedded bus, by topic (queues.* config)',
      labelNames: ['topic'],
      registers: [reg],
      collect() {
        this.reset();
        for (const t of topics()) this.set({ topic: t }, cap(t));
      },
    });
  }
  return () => void watched.delete(stats);
}
