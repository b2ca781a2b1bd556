/**
 * The one registry of Vigil's errors (fastify's lib/errors.js pattern): a stable code, a message
 * template filled from named params, a hint that says how to fix it, whether retrying can help,
 * and the CLI exit code. docs/errors.md has one row per code; a test keeps the two in step.
 */
export interface ErrorSpec {
  readonly message: string;
  readonly hint: string;
  readonly retriable: boolean;
  readonly exitCode: number;
}

export const errors = {
  VIGIL_ERR_CONFIG_INVALID: {
    message: 'invalid configuration: {problems}',
    hint: 'fix the named keys in the config file (or VIGIL_* environment variables); `vigil validate-config` lists every problem',
    retriable: false,
    exitCode: 78,
  },
  VIGIL_ERR_CONFIG_READ: {
    message: 'cannot read config file {file}: {reason}',
    hint: 'check the path given with --config or VIGIL_CONFIG',
    retriable: false,
    exitCode: 78,
  },
  VIGIL_ERR_MODEL_MISSING: {
    message: 'model file {file} is missing',
    hint: 'install the model profile with `vigil models pull <profile>`',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_MODEL_PROFILE_MISSING: {
    message: 'model profile "{profile}" is not installed ({reason})',
    hint: 'run `vigil models pull {profile}`',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_MODEL_CHECKSUM: {
    message: 'model profile "{profile}": {file} has sha256 {actual}, the manifest expects {expected}',
    hint: 'the file is corrupt or not the published model: run `vigil models pull {profile} --force`',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_MODEL_UNKNOWN_PROFILE: {
    message: 'unknown model profile "{profile}" (known: {known})',
    hint: '`vigil models list` shows the profiles and their licenses',
    retriable: false,
    exitCode: 64,
  },
  VIGIL_ERR_MODEL_PULL: {
    message: 'cannot install model profile "{profile}": {reason}',
    hint: 'check the source folder (models.source / VIGIL_SHARED_DIR) or the npm registry connection, then retry',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_MODEL_LOAD: {
    message: 'onnxruntime cannot load {file}: {reason}',
    hint: 'the file may be corrupt: run `vigil models pull <profile> --force`; for a GPU provider, check its drivers',
    retriable: false,
    exitCode: 70,
  },
  VIGIL_ERR_PROVIDER_UNAVAILABLE: {
    message: 'execution provider "{provider}" is not available on this machine: {reason}',
    hint: 'set inference.provider: cpu; for webgpu the GPU needs a Vulkan driver (libvulkan1 and the vendor ICD); cuda needs onnxruntime-node installed with its CUDA libraries',
    retriable: false,
    exitCode: 69,
  },
  VIGIL_ERR_IMAGE_DECODE: {
    message: '{file} is not a readable image: {reason}',
    hint: 'give a JPEG, PNG or WebP photograph',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_ENROLL_NO_FACE: {
    message: '{file}: no face found; nothing from this file was stored',
    hint: 'use a photo where the face is clearly visible, frontal and at least ~60 px between the eyes',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_ENROLL_MANY_FACES: {
    message: '{file}: {count} faces found and no clear choice: {reason}; nothing from this file was stored',
    hint: 'crop the photo to the person to enroll, or choose the face with --face largest / --face N',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_WATCHLIST_UNKNOWN: {
    message: 'no subject "{subject}" in the watchlist',
    hint: '`vigil watchlist list` shows the enrolled subjects',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_WATCHLIST_MODEL_MISMATCH: {
    message: 'the watchlist was embedded with {stored}, the running profile embeds with {running}',
    hint: 'run `vigil watchlist reembed` or start with the profile the watchlist was built with',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_STORE_CORRUPT: {
    message: 'the watchlist store {file} cannot be read: {reason}',
    hint: 'restore it from a backup; Vigil never overwrites a store it cannot read',
    retriable: false,
    exitCode: 74,
  },
  VIGIL_ERR_INGEST_OPEN: {
    message: 'camera {camera}: cannot open {url}: {reason}',
    hint: 'check the URL or file path, and that the stream is video',
    retriable: true,
    exitCode: 66,
  },
  VIGIL_ERR_INGEST_DECODE: {
    message: 'camera {camera}: decoding {url} failed: {reason}',
    hint: 'the file or stream is corrupt or not video; other cameras keep running',
    retriable: true,
    exitCode: 65,
  },
  VIGIL_ERR_INGEST_AUTH: {
    message: 'camera {camera}: {url} refused the credentials ({reason})',
    hint: 'check the user and password in the camera URL (keep the password in the environment: url: "rtsp://user:{VIGIL_CAM_PASSWORD}@host/path"); Vigil keeps retrying with backoff',
    retriable: true,
    exitCode: 77,
  },
  VIGIL_ERR_INGEST_NOT_FOUND: {
    message: 'camera {camera}: {url} was not found ({reason})',
    hint: 'check the stream path of the URL (the camera\'s manual names it, e.g. /stream1) or the file path; Vigil keeps retrying with backoff',
    retriable: true,
    exitCode: 66,
  },
  VIGIL_ERR_INGEST_UNREACHABLE: {
    message: 'camera {camera}: cannot reach {url} ({reason})',
    hint: 'check the host and port, the network, and that the camera is on; Vigil keeps retrying with backoff',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_INGEST_NOT_VIDEO: {
    message: 'camera {camera}: {url} is not a video stream ({reason})',
    hint: 'give the URL of the camera\'s video stream (RTSP H.264/H.265) or a video file; audio-only streams and web pages are not video',
    retriable: true,
    exitCode: 65,
  },
  VIGIL_ERR_INGEST_STALLED: {
    message: 'camera {camera}: no frame from {url} for {seconds} s (stalled)',
    hint: 'the camera or the network stopped sending; Vigil restarts the stream. If it happens often, check the network or raise ingest.stallTimeoutMs',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_INGEST_OPEN_TIMEOUT: {
    message: 'camera {camera}: no frame from {url} within {seconds} s of connecting',
    hint: 'the camera accepted the connection but sent no decodable video; check it streams (ffplay the URL), or raise ingest.openTimeoutMs for a slow camera',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_INGEST_ENDED: {
    message: 'camera {camera}: {url} ended the stream',
    hint: 'the server closed the stream (camera rebooting, publisher gone); Vigil reconnects with backoff',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_INGEST_PROTOCOL: {
    message: 'camera {camera}: {url} is refused: {reason}',
    hint: 'give a file path or an rtsp://, rtsps:// or http(s):// camera URL; ingest.protocols lists the schemes Vigil opens',
    retriable: false,
    exitCode: 64,
  },
  VIGIL_ERR_INGEST_NOT_FILE: {
    message: 'camera {camera}: {url} cannot be replayed: it is {reason}',
    hint: 'replay reads recordings (regular files); run a live source as a camera under `vigil start`',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_INGEST_TRUNCATED: {
    message: 'camera {camera}: {url} is truncated or corrupt: {reason}',
    hint: 'the recording ends before its stated length (an interrupted copy or a full disk); copy it again from the source',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_FFMPEG_MISSING: {
    message: 'ffmpeg was not found ({reason})',
    hint: 'install it (Debian: `apt-get install ffmpeg`) or set FFMPEG_PATH',
    retriable: false,
    exitCode: 69,
  },
  VIGIL_ERR_BUS_DECODE: {
    message: 'message on topic {topic} rejected: {reason}',
    hint: 'the message went to the dead-letter topic; check the producer version',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_DEMO_MEDIA: {
    message: 'cannot fetch the demo media: {reason}',
    hint: 'the demo needs the npm registry once; or configure your own cameras (see README)',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_KAFKA_NOT_CONFIGURED: {
    message: '`vigil {command}` runs a stage of the distributed mode and needs a Kafka bus: {reason}',
    hint: 'set bus.kafka.brokers in the config file or KAFKA_BROKERS=host:port[,host:port]; `vigil start` runs every stage in one process without Kafka',
    retriable: false,
    exitCode: 78,
  },
  VIGIL_ERR_KAFKA_FENCED: {
    message: 'another producer took over the transactional id {id}: this one is fenced off and writes nothing more',
    hint: 'another instance of this service took over (only one may write); this one stops, and started again it waits as a standby',
    retriable: true,
    exitCode: 75,
  },
  VIGIL_ERR_KAFKA_UNAVAILABLE: {
    message: 'Kafka at {brokers} did not answer within {seconds} s ({operation}): {reason}',
    hint: 'check that the brokers are up and reachable (bus.kafka.brokers / KAFKA_BROKERS); {then}',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_KAFKA_AUTH: {
    message: 'Kafka at {brokers} refused the SASL login of user "{username}" ({mechanism}): {reason}',
    hint: 'check bus.kafka.sasl.username and the environment variable its password placeholder names, and that the user exists on the brokers with this mechanism (kafka-configs --alter --add-config SCRAM-SHA-256=[...] --entity-type users)',
    retriable: false,
    exitCode: 77,
  },
  VIGIL_ERR_KAFKA_TLS: {
    message: 'TLS with Kafka at {brokers} failed: {reason}',
    hint: "the listener at bus.kafka.brokers and the client must agree: set bus.kafka.ssl (and bus.kafka.sasl) for a SSL/SASL_SSL listener, leave them out for a PLAINTEXT one; bus.kafka.ssl.ca must be the CA that signed the brokers' certificates",
    retriable: false,
    exitCode: 69,
  },
  VIGIL_ERR_BENCH_DATA: {
    message: 'benchmark data not usable at {dir}: {reason}',
    hint: 'give the LFW folder with --data, or set VIGIL_SHARED_DIR to the folder holding data/lfw (see ../shared/README.md)',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_STORE_TOO_NEW: {
    message: 'database {file} has schema version {version}, newer than this Vigil knows ({known})',
    hint: 'a newer Vigil wrote it: upgrade Vigil (Vigil never downgrades a database), or point dataDir at this version\'s data',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_BENCH_ARGS: {
    message: 'bench {bench}: {reason}',
    hint: 'see `vigil bench {bench} --help`',
    retriable: false,
    exitCode: 64,
  },
  VIGIL_ERR_BENCH_MISSING: {
    message: 'the benchmarks are not part of this installation (no bench/ folder next to src/)',
    hint: 'run them from a source checkout or the Docker image, which both hold bench/',
    retriable: false,
    exitCode: 69,
  },
  VIGIL_ERR_EVENTS_STORE: {
    message: 'the event store {file} cannot be opened: {reason}',
    hint: 'check the data dir\'s permissions and free space; restore events.db from a backup if it is corrupt (Vigil never overwrites a store it cannot read)',
    retriable: false,
    exitCode: 74,
  },
  VIGIL_ERR_EVENTS_CURSOR: {
    message: 'cursor "{cursor}" is {reason}',
    hint: 'resume from a cursor this server handed out (the `cursor` of an event, `next` of GET /api/events, or `cursor` of hello); omit it to start from the live edge',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_API_BAD_REQUEST: {
    message: 'bad request: {reason}',
    hint: 'docs/openapi.yaml describes every parameter and body',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_API_UNAUTHORIZED: {
    message: 'no valid token: {reason}',
    hint: 'send the token as "Authorization: Bearer <token>" or ?token=<token> (broadcast.tokens in the config, or the tokens generated in <dataDir>/broadcast-tokens.json)',
    retriable: false,
    exitCode: 77,
  },
  VIGIL_ERR_API_FORBIDDEN: {
    message: '{method} {path} needs the {needed} role; this token is {role}',
    hint: 'use a token of that role (viewer reads, operator acknowledges, admin manages the watchlist and config)',
    retriable: false,
    exitCode: 77,
  },
  VIGIL_ERR_API_NOT_FOUND: {
    message: '{what} not found',
    hint: 'docs/openapi.yaml lists the routes; GET /api/events lists the stored events',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_API_INTERNAL: {
    message: 'internal error (logged on the server)',
    hint: 'retry; if it persists, the server log has the cause',
    retriable: true,
    exitCode: 70,
  },
  VIGIL_ERR_BROADCAST_TLS: {
    message: 'cannot read the broadcast TLS {which} {file}: {reason}',
    hint: 'broadcast.tls.cert and broadcast.tls.key name PEM files readable by Vigil (e.g. from your CA or `openssl req -x509 ...`)',
    retriable: false,
    exitCode: 78,
  },
  VIGIL_ERR_BROADCAST_PORT_IN_USE: {
    message: 'cannot listen on {host}:{port} for the broadcast server: another process already uses that port',
    hint: "stop that process (`ss -ltnp 'sport = :{port}'` names it; another `vigil start` or `vigil broadcast`?) or choose a free port with broadcast.port (or --port)",
    retriable: true,
    exitCode: 75,
  },
  VIGIL_ERR_SINK_UNKNOWN: {
    message: 'no sink "{sink}" is configured',
    hint: 'GET /api/sinks lists the configured sinks (config key sinks[].id)',
    retriable: false,
    exitCode: 64,
  },
  VIGIL_ERR_DOCTOR_PROBLEMS: {
    message: '`vigil doctor` found {count} problem(s)',
    hint: 'fix each problem listed above as its line says, then run `vigil doctor` again',
    retriable: false,
    exitCode: 1,
  },
  VIGIL_ERR_IMAGE_TOO_LARGE: {
    message: '{file} is {width}x{height} pixels, more than the {max} an enrollment photo may have; it was not decoded',
    hint: 'scale the photo down (a face needs ~100 px between the eyes at most); this limit keeps one photo from taking gigabytes of memory',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_WATCHLIST_INVALID: {
    message: 'invalid watchlist {field}: {reason}; nothing was stored',
    hint: 'ids: letters, digits, "_", "." or "-"; names: printable text; expiry: a date such as 2027-01-31',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_AUDIT_TAMPERED: {
    message: 'the audit log {file} fails verification at record {record}: {reason}',
    hint: 'the log was edited, truncated or rolled back after it was written: keep this copy as evidence and restore the log from a backup; `vigil audit show` still reads the records before it',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_AUDIT_KEY_MISSING: {
    message: 'the audit signing key {file} is missing but {checkpoints} signed checkpoint(s) exist',
    hint: 'restore the key from a backup (it is kept 0600 in the data dir); Vigil never makes a new key for a log that already has checkpoints, since that would hide a rollback',
    retriable: false,
    exitCode: 66,
  },
  VIGIL_ERR_AUDIT_LOCKED: {
    message: 'the audit log {file} stayed locked for {seconds} s by process {pid}',
    hint: 'another Vigil process is writing the log; if none runs, delete {file}.lock',
    retriable: true,
    exitCode: 75,
  },
  VIGIL_ERR_REPORT_DIR: {
    message: 'report folder {dir} {reason}',
    hint: 'give a new or empty folder with --report; an existing report is never overwritten',
    retriable: false,
    exitCode: 73,
  },
  VIGIL_ERR_SEARCH_NO_FACE: {
    message: '{file}: no face found to search for',
    hint: 'give a photo or crop where the face is clearly visible, at least ~40 px between the eyes',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_SEARCH_INDEX: {
    message: 'the appearance index {file} cannot be used: {reason}',
    hint: 'restore it from a backup, or delete it and run `vigil index` on the recordings again',
    retriable: false,
    exitCode: 74,
  },
  VIGIL_ERR_REPORT_PDF: {
    message: 'report.pdf was not written: Chromium at {path} failed: {reason}',
    hint: 'install chromium (Debian: apt-get install chromium) or point VIGIL_CHROMIUM at it, or pass --no-pdf; the rest of the bundle, report.html included, was written',
    retriable: true,
    exitCode: 69,
  },
  VIGIL_ERR_VISITOR_UNKNOWN: {
    message: 'no visitor "{visitor}" (unknown #{visitor}): never seen, forgotten, promoted or purged by retention',
    hint: 'GET /api/visitors (or the console\'s Visitors page) lists the visitors kept',
    retriable: false,
    exitCode: 65,
  },
  VIGIL_ERR_VISITOR_DISABLED: {
    message: 'unknown visitors are off (config visitors.enabled: false): nothing about unknown faces is stored',
    hint: 'set visitors.enabled: true in the config to cluster unknown faces into visitors (opt-in, with visitors.retentionDays)',
    retriable: false,
    exitCode: 78,
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errors;

/** An error with a stable code, a filled-in message and a hint. */
export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly retriable: boolean;
  readonly exitCode: number;
  readonly params: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, params: Record<string, string | number> = {}, cause?: unknown) {
    const spec: ErrorSpec = errors[code];
    super(fill(spec.message, params), cause === undefined ? undefined : { cause });
    this.name = 'VigilError';
    this.code = code;
    this.hint = fill(spec.hint, params);
    this.retriable = spec.retriable;
    this.exitCode = spec.exitCode;
    this.params = params;
  }
}

function fill(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

export function isVigilError(err: unknown, code?: ErrorCode): err is VigilError {
  return err instanceof VigilError && (code === undefined || err.code === code);
}
