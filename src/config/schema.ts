import { z } from 'zod';

/**
 * THE configuration schema (one model, like Frigate's): strict objects reject unknown keys, every
 * field says what it means and its unit, and defaults live here and only here. Types are inferred.
 */
export const cameraSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only').describe('stable camera id used in events and metrics'),
  name: z.string().optional().describe('human-readable camera name'),
  url: z.string().min(1).describe('rtsp://, http(s):// or a file path; may hold {VIGIL_*} placeholders for secrets'),
  fps: z.number().positive().max(60).default(5).describe('frames sampled per second'),
  maxWidth: z.number().int().min(64).max(7680).default(1280).describe('frames wider than this are scaled down, px'),
  realtime: z.boolean().default(true).describe('files only: pace at the recording speed (a simulated live camera) instead of as fast as possible'),
  loop: z.boolean().default(false).describe('files only: start again at the end'),
  enabled: z.boolean().default(true).describe('false: configured but not connected (state "disabled")'),
  transport: z.enum(['tcp', 'udp']).default('tcp').describe('RTSP transport: tcp (no packet loss, passes NAT and firewalls) or udp'),
});

/** Live camera supervision: stall watchdog, restart backoff, decoder settings (`vigil start`). */
export const ingestSchema = z.strictObject({
  stallTimeoutMs: z.number().int().min(500).default(10_000).describe('a live camera that gives no frame for this long is restarted, ms'),
  openTimeoutMs: z.number().int().min(500).default(20_000).describe('a camera that gives no first frame this long after connecting is restarted, ms'),
  backoffInitialMs: z.number().int().min(10).default(1000).describe('wait before the first restart of a failed camera, ms; doubles with each failure in a row'),
  backoffMaxMs: z.number().int().min(10).default(30_000).describe('longest wait between restarts, ms'),
  stableAfterMs: z.number().int().min(0).default(30_000).describe('a camera live this long starts its backoff again from backoffInitialMs, ms'),
  decoderThreads: z.number().int().min(0).max(64).default(1).describe('ffmpeg decoder threads per camera (0 = ffmpeg\'s choice, one per core); 1 scales best to many cameras (`vigil bench ingest`)'),
  watchConfig: z.boolean().default(true).describe('`vigil start -c FILE`: apply camera changes in FILE while running (added, removed, changed cameras; the others keep running)'),
  protocols: z
    .array(z.enum(['file', 'rtsp', 'rtsps', 'http', 'https', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp']))
    .min(1)
    .default(['file', 'rtsp', 'rtsps', 'http', 'https', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp'])
    .describe('schemes a camera URL may use ("file": a local path); anything else (concat:, subfile:, data:, pipe:) is refused, and ffmpeg opens only what each scheme needs underneath'),
});
export type IngestConfig = z.infer<typeof ingestSchema>;

/** Distributed mode: the stages as separate services on Apache Kafka (`vigil ingest|infer|match|broadcast`). */
export const kafkaSchema = z.strictObject({
  brokers: z
    .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'host:port'))
    .min(1)
    .default(['127.0.0.1:9092'])
    .describe('bootstrap brokers, host:port (KAFKA_BROKERS="h1:9092,h2:9092" overrides)'),
  clientId: z.string().min(1).default('vigil').describe('Kafka client id (broker logs and quotas)'),
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only')
    .default('vigil.')
    .describe('prefix of every topic and consumer group, so several deployments can share one cluster'),
  partitions: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(6)
    .describe('partitions of the frames, faces and matches topics when created: the most inference or matcher replicas that get work (messages are keyed by camera)'),
  replicationFactor: z.number().int().min(1).max(16).default(1).describe('replicas of each topic when created (3 on a production cluster)'),
  retention: z
    .strictObject({
      framesMinutes: z.number().positive().default(10).describe('frames are only worth processing while fresh, min'),
      facesMinutes: z.number().positive().default(60).describe('embedded faces; also what a matcher replica restores its state from, min'),
      matchesDays: z.number().positive().default(30).describe('match events: the alert history, days'),
      deadLetterDays: z.number().positive().default(7).describe('messages that failed to decode or to be handled, days'),
    })
    .prefault({}),
  maxMessageBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .max(64 * 1024 * 1024)
    .default(10 * 1024 * 1024)
    .describe('largest message on the frames and faces topics, bytes (a 1080p JPEG frame is 0.2-1.5 MB)'),
  sessionTimeoutMs: z
    .number()
    .int()
    .min(3000)
    .max(300_000)
    .default(30_000)
    .describe('a consumer silent this long is taken as dead and its partitions go to another replica, ms'),
  heartbeatIntervalMs: z.number().int().min(100).max(30_000).default(3000).describe('consumer heartbeat interval, ms (a third of the session timeout or less)'),
  restoreSeconds: z
    .number()
    .min(0)
    .max(3600)
    .default(180)
    .describe('a matcher replica taking over a camera re-reads this much of its faces (without publishing) to rebuild track and alert state, s'),
  connectTimeoutSeconds: z
    .number()
    .positive()
    .default(60)
    .describe('one-shot commands (`vigil enroll`) give up when the brokers do not answer within this, s; services keep retrying'),
  lagIntervalSeconds: z.number().positive().default(5).describe('how often consumer lag is measured (metric vigil_kafka_consumer_lag and logs), s'),
  dedupeWindow: z
    .number()
    .int()
    .min(16)
    .default(50_000)
    .describe('recent message ids remembered to drop redeliveries (broadcaster: match events; matcher: faces); about 100 bytes each'),
  ssl: z
    .strictObject({
      ca: z.string().min(1).optional().describe("PEM file of the CA that signed the brokers' certificates (unset: the system's CAs)"),
      cert: z.string().min(1).optional().describe("PEM file of this client's certificate, for listeners with ssl.client.auth=required (with key)"),
      key: z.string().min(1).optional().describe('PEM file of the private key of cert (unencrypted; keep it 0600)'),
      rejectUnauthorized: z
        .boolean()
        .default(true)
        .describe('false accepts any broker certificate: testing only, anyone in the path can then read and change the traffic'),
    })
    .refine((s) => (s.cert === undefined) === (s.key === undefined), { message: 'cert and key go together: set both or neither' })
    .optional()
    .describe('TLS to the brokers (an SSL or SASL_SSL listener); file paths are relative to the working directory'),
  sasl: z
    .strictObject({
      mechanism: z.enum(['scram-sha-256', 'scram-sha-512']).describe('SCRAM mechanism the listener takes'),
      username: z.string().min(1).describe('SCRAM user'),
      password: z.string().min(1).describe('SCRAM password: written as a {VIGIL_*} placeholder, so it stays in the environment (never logged)'),
    })
    .optional()
    .describe('SASL authentication to the brokers (with ssl: a SASL_SSL listener; without TLS the password hash and every face cross in clear)'),
  maxFramePixels: z
    .number()
    .int()
    .min(64 * 64)
    .default(7680 * 4320)
    .describe('frames whose JPEG is larger (width x height) are dead-lettered before decoding: a small message can decode to GBs, px'),
});
export type KafkaConfig = z.infer<typeof kafkaSchema>;

/** Outbound alerts (src/sinks): which events a sink takes. Unset fields match everything. */
export const sinkFilterSchema = z.strictObject({
  cameras: z.array(z.string()).optional().describe('camera ids; unset: every camera'),
  lists: z.array(z.string()).optional().describe('watchlist names or ids an alert\'s subject must be on; unset: every list'),
  types: z.array(z.enum(['alert', 'update', 'camera-status'])).optional().describe('event types; default: alert and update (MQTT also camera-status, for availability)'),
});

export const sinkRetrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(1000).default(10).describe('deliveries tried before the event goes to the dead letters'),
  initialBackoffMs: z.number().int().min(1).default(1000).describe('wait after the first failure, ms; doubles with each failure (with jitter)'),
  maxBackoffMs: z.number().int().min(1).default(60_000).describe('longest wait between two tries, ms'),
  maxAgeSeconds: z.number().positive().default(3600).describe('an event still undelivered this long after its first try goes to the dead letters, s'),
});

const sinkCommon = {
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only').describe('stable sink id (metrics label, delivery cursor, GET /api/sinks)'),
  enabled: z.boolean().default(true),
  filter: sinkFilterSchema.prefault({}),
  retry: sinkRetrySchema.prefault({}),
  includeCrop: z.boolean().default(false).describe('send the face crop (base64 JPEG) with alerts: biometric data leaves Vigil; off by default'),
};

export const webhookSinkSchema = z.strictObject({
  type: z.literal('webhook'),
  ...sinkCommon,
  url: z.string().regex(/^https?:\/\//, 'http:// or https:// URL').describe('receiver URL; JSON is POSTed to it'),
  secret: z.string().min(16).describe('HMAC-SHA256 key of the Vigil-Signature header; use a {VIGIL_*} placeholder, never the literal secret'),
  timeoutMs: z.number().int().min(100).default(10_000).describe('a delivery not answered within this counts as failed, ms'),
});

export const mqttSinkSchema = z.strictObject({
  type: z.literal('mqtt'),
  ...sinkCommon,
  url: z.string().regex(/^mqtts?:\/\//, 'mqtt:// or mqtts:// URL').describe('broker URL, e.g. mqtt://127.0.0.1:1883'),
  username: z.string().optional(),
  password: z.string().optional().describe('use a {VIGIL_*} placeholder'),
  clientId: z.string().min(1).optional().describe('MQTT client id; default vigil-<sink id>'),
  topicPrefix: z.string().regex(/^[^#+]+$/, 'no MQTT wildcards').default('vigil').describe('topics: <prefix>/<camera>/match, <prefix>/subject/<id>, <prefix>/<camera>/availability'),
  discoveryPrefix: z.string().regex(/^[^#+]*$/, 'no MQTT wildcards').default('homeassistant').describe('Home Assistant MQTT discovery prefix; "" turns discovery off'),
  timeoutMs: z.number().int().min(100).default(10_000).describe('a publish not acknowledged (PUBACK) within this counts as failed, ms'),
});

export const sinkSchema = z.discriminatedUnion('type', [webhookSinkSchema, mqttSinkSchema]);
export type SinkConfig = z.infer<typeof sinkSchema>;
export type WebhookSinkConfig = z.infer<typeof webhookSinkSchema>;
export type MqttSinkConfig = z.infer<typeof mqttSinkSchema>;

/** Where Prometheus scrapes /metrics (issue 12: not open on the broadcast port by default). */
export const metricsSchema = z.strictObject({
  token: z.string().min(16).optional().describe('when set, /metrics needs `Authorization: Bearer <token>`; use a {VIGIL_*} placeholder'),
  port: z.number().int().min(0).max(65535).optional().describe('serve /metrics on its own listener (0 = any free port) instead of the broadcast port'),
  host: z.string().default('127.0.0.1').describe('listen address of metrics.port'),
});

export const configSchema = z.strictObject({
  dataDir: z.string().default('.vigil').describe('state folder: watchlist, index, models, token (relative to the working directory)'),
  sharedDir: z.string().default('../shared').describe('development data and models folder (VIGIL_SHARED_DIR overrides)'),
  models: z
    .strictObject({
      profile: z.string().default('auto').describe('model profile from models/manifest.json, or "auto": the best installed one, else the npm channel'),
      localSource: z.string().optional().describe('folder `vigil models pull` copies from; default <sharedDir>/models'),
    })
    .prefault({}),
  inference: z
    .strictObject({
      provider: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu').describe('onnxruntime execution provider'),
      threads: z.number().int().min(1).max(64).default(1).describe('intra-op threads per model session'),
      batchSize: z.number().int().min(1).max(256).default(8).describe('most frames taken from the queue and whose faces are embedded together'),
      batchWaitMs: z.number().int().min(0).max(1000).default(15).describe('longest wait for a batch to fill, ms'),
      minFaceSize: z.number().min(0).default(20).describe('faces whose box is smaller than this (shorter side) are ignored, px'),
      flip: z
        .boolean()
        .optional()
        .describe('flip test-time augmentation (embed each face and its mirror): default the profile\'s; off saves ~1 embedding per face at a small accuracy cost (docs/accuracy.md); changing it re-embeds the watchlist'),
      workers: z.number().int().min(0).max(64).default(0).describe('inference workers (each its own onnxruntime sessions) in the embedded mode; 0: one per core (os.availableParallelism())'),
      schedule: z
        .strictObject({
          enabled: z.boolean().default(true).describe('track-driven detection and embedding (README "Throughput"): 2-4x the frames per core, the same alerts; off: every frame detected whole and every face embedded (the distributed `vigil infer` uses the regions and still frames, but embeds every tracked face: it holds no watchlist to tell a decided identity)'),
          fullEvery: z.number().int().min(1).default(10).describe('full-frame detection every this many frames of a camera when something moved since the last one (motion away from the tracked faces is detected in regions around it)'),
          reembedEvery: z.number().int().min(1).default(10).describe('a tracked face whose identity is decided is embedded again at least every this many frames'),
          decidedMargin: z.number().min(0).max(2).default(0.15).describe('identity decided when the best watchlist similarity is this far from the threshold'),
          flipBand: z.number().min(0).max(2).default(0.1).describe('flip TTA only for faces whose similarity is within this of the threshold (0: every face)'),
          motionRegions: z.boolean().default(true).describe('motion away from the tracked faces is detected in regions around what moved, at native resolution (false: a full-frame pass)'),
          regionSize: z.number().int().min(96).max(640).default(192).describe('detector input (longest side, px) for the region around a tracked face (about 2.5 face widths); smaller is cheaper, a face keeps fewer pixels'),
          regionModel: z
            .enum(['profile', 'detector'])
            .default('profile')
            .describe('detector that follows a tracked face whose identity is decided: "profile", the profile\'s cheaper regionDetector when installed (research: SCRFD-500M, about a quarter of the cost), else the detector; "detector", always the detector. Undecided and new faces are always looked for with the detector'),
        })
        .prefault({}),
    })
    .prefault({}),
  matcher: z
    .strictObject({
      threshold: z.number().min(-1).max(1).optional().describe('cosine similarity for a match; default: the profile\'s calibrated value'),
      targetFpir: z
        .number()
        .gt(0)
        .lt(1)
        .optional()
        .describe('instead of threshold: the wanted false positive identification rate (share of never-enrolled faces that alert), mapped to a threshold by the profile\'s calibration table (models/manifest.json)'),
      topK: z.number().int().min(1).max(50).default(3).describe('candidates reported with each match'),
    })
    .refine((m) => m.threshold === undefined || m.targetFpir === undefined, { message: 'set threshold or targetFpir, not both' })
    .prefault({}),
  quality: z
    .strictObject({
      enabled: z.boolean().default(true).describe('drop faces failing a gate before they are embedded or matched (counted per gate)'),
      minInterEye: z.number().min(0).default(8).describe('distance between the eye landmarks in the frame, px; smaller faces carry too little detail'),
      minScore: z.number().min(0).max(1).default(0).describe('detector confidence (on top of the detector\'s own threshold)'),
      minSharpness: z.number().min(0).default(5).describe('variance of the Laplacian over the aligned 112x112 crop\'s inner face; blurred or upscaled faces score low'),
      maxYaw: z.number().min(0).max(90).default(70).describe('head turn estimated from the 5 landmarks, degrees (rough, +-10)'),
      maxPitch: z.number().min(0).max(90).default(60).describe('head tilt up/down estimated from the 5 landmarks, degrees (rough, +-10)'),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      strongMargin: z.number().min(0).max(1).default(0.1).describe('one face this far above the threshold raises an alert at once (rule "strong")'),
      k: z.number().int().min(1).default(2).describe('otherwise k of a track\'s last n faces must name the same subject (rule "k-of-n")'),
      n: z.number().int().min(1).default(3),
      cooldownSeconds: z.number().min(0).default(60).describe('same subject, same camera: no new alert within this long of the last sighting, s'),
      updateMinGain: z.number().min(0).max(1).default(0.03).describe('an alert is updated when a later face of its track is this much more similar'),
      trackGapSeconds: z.number().positive().default(2).describe('a face track survives this long without a face, s'),
      storeUnknown: z.boolean().default(false).describe('save the best face of each appearance that matched nobody under <dataDir>/unknown/<camera>/ (off: unknown faces are only counted)'),
    })
    .prefault({}),
  broadcast: z
    .strictObject({
      host: z.string().default('127.0.0.1').describe('WebSocket listen address'),
      publicUrl: z.string().regex(/^https?:\/\//, 'http:// or https:// URL').optional().describe('the console\'s address as operators reach it; alerts sent to sinks link to <publicUrl>/#/events/<id>'),
      port: z.number().int().min(0).max(65535).default(8765).describe('WebSocket listen port (0 = any free port)'),
      token: z.string().min(16).optional().describe('clients must present it; generated and stored in dataDir at first start when unset'),
      maxPayloadBytes: z.number().int().min(128).default(4096).describe('largest message a client may send; larger closes the socket (1009)'),
      maxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024).describe('a client this far behind is disconnected instead of queuing without limit'),
      tokens: z
        .union([
          z.strictObject({
            viewer: z.string().min(16).optional(),
            operator: z.string().min(16).optional(),
            admin: z.string().min(16).optional(),
          }),
          z.array(z.strictObject({ token: z.string().min(16), role: z.enum(['viewer', 'operator', 'admin']), label: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_", "-"') })).min(1),
        ])
        .optional()
        .describe('tokens per role: {viewer, operator, admin} or a list of {token, role, label}; roles without one get a token generated into dataDir/broadcast-tokens.json (0600) at first start'),
      maxMessagesPerSecond: z.number().positive().default(20).describe('messages (text, binary and pings) a WebSocket client may send per second, with a burst of twice that; beyond it the client is closed (1008)'),
      tls: z
        .strictObject({
          cert: z.string().min(1).describe('PEM certificate (chain) file'),
          key: z.string().min(1).describe('PEM private key file'),
        })
        .optional()
        .describe('serve https:// and wss:// instead of plain http:// and ws://'),
    })
    .prefault({}),
  events: z
    .strictObject({
      retentionDays: z.number().positive().default(30).describe('stored events older than this are purged, days'),
      maxCrops: z.number().int().min(0).default(10_000).describe('face crops kept in the event store (the newest); older events keep their row without the crop'),
      purgeIntervalMinutes: z.number().positive().default(60).describe('how often retention runs, min'),
    })
    .prefault({}),
  queues: z
    .strictObject({
      frames: z.number().int().min(1).default(8).describe('frames waiting for inference; live cameras drop the oldest beyond this'),
      faces: z.number().int().min(1).default(64),
      matches: z.number().int().min(1).default(1024).describe('match events are never dropped: producers wait'),
    })
    .prefault({}),
  bus: z
    .strictObject({
      kafka: kafkaSchema
        .optional()
        .describe('set (or KAFKA_BROKERS) for the distributed mode: the stage services run on it, and `vigil enroll` also publishes to its watchlist topic; `vigil start` stays on the in-memory bus'),
    })
    .prefault({}),
  ingest: ingestSchema.prefault({}),
  audit: z
    .strictObject({
      checkpointEvery: z.number().int().min(1).default(100).describe('a signed checkpoint of the audit log is written after this many records (truncation or rollback of signed records is detectable)'),
      checkpointMinutes: z.number().positive().default(10).describe('... or when the last checkpoint is older than this, min (checked at each record)'),
    })
    .prefault({}),
  search: z
    .strictObject({
      fps: z.number().positive().max(30).default(5).describe('`vigil index`: frames sampled per second of a recording'),
      maxResults: z.number().int().min(1).default(50).describe('`vigil search`: most appearances printed'),
      retentionDays: z.number().min(0).default(0).describe('appearances (crops and embeddings) older than this are deleted from the search index when `vigil index` or `vigil search` runs, days (0: kept until deleted)'),
    })
    .prefault({}),
  visitors: z
    .strictObject({
      enabled: z.boolean().default(false).describe('opt-in: cluster faces that match nobody on the watchlist into pseudonymous visitors ("unknown #17") kept in <dataDir>/visitors.db; off: nothing about unknown faces is stored'),
      retentionDays: z.number().positive().max(3650).default(7).describe('visitors not seen for this long are deleted with their crops and embeddings, days'),
      threshold: z.number().gt(-1).lt(1).optional().describe('cosine similarity at which a face joins an existing visitor; default: the profile\'s calibrated threshold at a false-positive rate of 0.1% (stricter than the match threshold: a wrong merge mixes two people)'),
      alertCameras: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'camera ids: letters, digits, "_", "." and "-" only')).default([]).describe('opt-in rule: an unknown face on one of these cameras raises an alert naming its visitor ("unknown #17 at door, 4 visits today"), once per face track'),
      visitGapSeconds: z.number().min(0).default(120).describe('face tracks of one visitor at one camera this close together count as one visit, s'),
      maxCrops: z.number().int().min(1).max(20).default(5).describe('best faces (crop and embedding) kept per visitor'),
      purgeIntervalMinutes: z.number().positive().default(60).describe('how often retention runs (also at start), min'),
    })
    .refine((v) => v.enabled || v.alertCameras.length === 0, { message: 'alertCameras needs enabled: true (unknown visitors are opt-in)', path: ['alertCameras'] })
    .prefault({}),
  cameras: z.array(cameraSchema).default([]),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
  sinks: z
    .array(sinkSchema)
    .default([])
    .refine((a) => new Set(a.map((x) => x.id)).size === a.length, { message: 'sink ids must be unique' }).describe('outbound alerts: webhooks and MQTT brokers (README "Alerts to other systems")'),
  metrics: metricsSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type ConfigInput = z.input<typeof configSchema>;
