import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { CameraConfig, Config } from '../config/schema.js';
import { isVigilError } from '../errors.js';
import { cameraError } from '../ingest/camera-errors.js';
import { decode, isLiveUrl } from '../ingest/ffmpeg.js';
import { redactSecrets, safeUrl } from '../util/redact.js';
import type { Logger } from '../log.js';
import { loadManifest } from '../models/manifest.js';
import { installedStatus } from '../models/store.js';
import { chooseProfile, modelsDirOf, openEngine } from '../runtime.js';

/**
 * The checks of `vigil doctor`. Each returns findings: what was looked at, whether it is fine, and
 * for a problem the fix in one line. Checks never change the deployment (no file written except a
 * probe file in the data dir, removed at once; no model fetched; no topic created).
 */
export type Status = 'ok' | 'warn' | 'problem';

export interface Finding {
  readonly check: string;
  readonly status: Status;
  readonly detail: string;
  readonly fix?: string;
}

const ok = (check: string, detail: string): Finding => ({ check, status: 'ok', detail });
const warn = (check: string, detail: string, fix?: string): Finding => ({ check, status: 'warn', detail, fix });
const problem = (check: string, detail: string, fix: string): Finding => ({ check, status: 'problem', detail, fix });

/** ffmpeg and ffprobe on the PATH (or FFMPEG_PATH/FFPROBE_PATH), with their versions. */
export function checkFfmpeg(): Finding[] {
  const out: Finding[] = [];
  for (const [tool, env] of [['ffmpeg', 'FFMPEG_PATH'], ['ffprobe', 'FFPROBE_PATH']] as const) {
    const bin = process.env[env] || tool;
    const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
    if (r.error || r.status !== 0) {
      out.push(problem(tool, `${bin} cannot be run (${r.error?.message ?? `exit ${r.status}`})`, `install it (Debian: \`apt-get install ffmpeg\`) or set ${env}`));
      continue;
    }
    const version = /version\s+(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
    const major = Number(/^n?(\d+)/.exec(version)?.[1] ?? NaN);
    if (Number.isFinite(major) && major < 4) out.push(warn(tool, `${tool} ${version} is old (4.0 or newer is tested)`, 'upgrade ffmpeg'));
    else out.push(ok(tool, `${tool} ${version}`));
  }
  return out;
}

/** The model profile Vigil would run: every file present and matching the manifest's sha256. */
export async function checkModels(cfg: Config, log: Logger): Promise<{ findings: Finding[]; profile: string | null }> {
  let name: string;
  try {
    name = (await chooseProfile(cfg, log, { fetch: false })).name;
  } catch (err) {
    const fix = isVigilError(err) ? err.hint : 'run `vigil models pull <profile>`';
    return { findings: [problem('models', (err as Error).message, fix)], profile: null };
  }
  try {
    const status = await installedStatus(loadManifest(), modelsDirOf(cfg), name, { verify: true });
    const findings: Finding[] = [];
    for (const m of Object.values(status.models)) {
      if (!m.present) findings.push(problem('models', `profile "${name}": model ${m.id} is missing (${m.path})`, `run \`vigil models pull ${name}\``));
      else if (m.checksumOk !== true) findings.push(problem('models', `profile "${name}": ${m.path} has sha256 ${m.sha256?.slice(0, 12)}…, the manifest expects ${m.expected.slice(0, 12)}…`, `the file is corrupt or not the published model: run \`vigil models pull ${name} --force\``));
    }
    if (findings.length === 0) findings.push(ok('models', `profile "${name}": ${Object.keys(status.models).length} model files present, sha256 verified`));
    return { findings, profile: findings.every((f) => f.status === 'ok') ? name : null };
  } catch (err) {
    return { findings: [problem('models', `profile "${name}": ${(err as Error).message}`, isVigilError(err) ? err.hint : `run \`vigil models pull ${name}\``)], profile: null };
  }
}

/** The data dir: a directory, 0700 (it holds biometric data), and writable by this user. */
export async function checkDataDir(dir: string): Promise<Finding[]> {
  const check = 'data dir';
  let st;
  try {
    st = await stat(dir);
  } catch {
    // Not there yet: Vigil creates it (0700) at first start, if it may write the parent.
    try {
      await access(dirname(dir), constants.W_OK);
      return [ok(check, `${dir} does not exist yet; it is created (0700) at first start`)];
    } catch {
      return [problem(check, `${dir} does not exist and ${dirname(dir)} is not writable`, `create it: \`mkdir -m 700 ${dir}\` as the user Vigil runs as, or set dataDir / VIGIL_DATA_DIR`)];
    }
  }
  if (!st.isDirectory()) return [problem(check, `${dir} is not a directory`, 'set dataDir (or VIGIL_DATA_DIR) to a directory')];
  const out: Finding[] = [];
  const mode = st.mode & 0o777;
  if (mode & 0o077) out.push(problem(check, `${dir} has mode ${mode.toString(8).padStart(4, '0')}: other users can read the watchlist, face crops and events`, `\`chmod 700 ${dir}\``));
  // Write for real: access() says yes to root even on a read-only mount.
  const probe = join(dir, `.doctor-${process.pid}`);
  try {
    await writeFile(probe, 'ok', { mode: 0o600 });
    await rm(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const uid = process.getuid?.();
    out.push(problem(check, `${dir} is not writable by this user${uid === undefined ? '' : ` (uid ${uid})`}: ${code}`, `make the user Vigil runs as its owner: \`chown -R <user> ${dir} && chmod 700 ${dir}\``));
  }
  if (out.length === 0) out.push(ok(check, `${dir}: 0${mode.toString(8)}, writable`));
  return out;
}

/** One camera: connect and decode one frame within `timeoutMs` (the ingest's own ffmpeg code). URLs shown redacted. */
export async function checkCamera(cam: CameraConfig, timeoutMs: number): Promise<Finding> {
  const check = `camera ${cam.id}`;
  const shown = safeUrl(cam.url);
  const t0 = Date.now();
  let got: { width: number; height: number } | undefined;
  const h = decode(
    { url: cam.url, fps: 1, size: { maxWidth: 320 }, sampling: isLiveUrl(cam.url) ? 'live' : 'exact', transport: cam.transport, tuning: { threads: 1 } },
    {
      onFrame: (f) => {
        got ??= { width: f.width, height: f.height };
        h.stop();
      },
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  try {
    const r = await Promise.race([h.done.then(() => 'done' as const), timeout]);
    if (got) return ok(check, `${shown}: decoded a frame in ${Date.now() - t0} ms`);
    if (r === 'timeout') return problem(check, `${shown}: no frame within ${Math.round(timeoutMs / 1000)} s`, 'check the camera streams video (ffplay the URL) and the network; a slow camera may need a longer --timeout');
    return problem(check, `${shown}: the stream ended before any frame`, 'check the URL points at the camera\'s video stream');
  } catch (err) {
    const { error } = cameraError(cam.id, cam.url, err);
    return problem(check, error.message.replace(`camera ${cam.id}: `, ''), error.hint);
  } finally {
    clearTimeout(timer);
    h.stop();
  }
}

/** Whether this process could listen on host:port now. */
function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    s.listen(port, host, () => s.close(() => resolve(null)));
  });
}

/** The listen addresses of the config (broadcast, own metrics port) are free. */
export async function checkPorts(cfg: Config): Promise<Finding[]> {
  const wanted: { what: string; key: string; host: string; port: number }[] = [];
  if (cfg.broadcast.port !== 0) wanted.push({ what: 'broadcast (API, console, WebSocket)', key: 'broadcast.port', host: cfg.broadcast.host, port: cfg.broadcast.port });
  if (cfg.metrics.port !== undefined && cfg.metrics.port !== 0) wanted.push({ what: 'metrics', key: 'metrics.port', host: cfg.metrics.host, port: cfg.metrics.port });
  const out: Finding[] = [];
  for (const w of wanted) {
    const e = await tryListen(w.host, w.port);
    const where = `${w.host}:${w.port}`;
    if (!e) out.push(ok('port', `${w.what} ${where} is free`));
    else if (e.code === 'EADDRINUSE') out.push(problem('port', `${w.what} ${where} is in use by another process (Vigil already running?)`, `stop that process (\`ss -ltnp 'sport = :${w.port}'\` names it) or change ${w.key}`));
    else if (e.code === 'EACCES') out.push(problem('port', `${w.what} ${where}: not allowed to listen (${e.code})`, `use a port above 1023 in ${w.key}`));
    else out.push(problem('port', `${w.what} ${where}: cannot listen (${e.code ?? e.message})`, `set ${w.key.replace('port', 'host')} to an address of this machine`));
  }
  return out;
}

/** Whether the system clock is NTP-synchronised (alert times, cooldowns and cross-camera links depend on it). */
export function checkClock(): Finding[] {
  const td = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 5000 });
  if (!td.error && td.status === 0) {
    return td.stdout.trim() === 'yes'
      ? [ok('clock', 'NTP synchronised (timedatectl)')]
      : [problem('clock', 'the system clock is not NTP synchronised (timedatectl)', 'enable time sync: `timedatectl set-ntp true` (or chrony/ntpd)')];
  }
  const ch = spawnSync('chronyc', ['-n', 'tracking'], { encoding: 'utf8', timeout: 5000 });
  if (!ch.error && ch.status === 0) {
    const offset = Math.abs(Number(/System time\s*:\s*([\d.]+)/.exec(ch.stdout)?.[1] ?? NaN));
    const leap = /Leap status\s*:\s*(.+)/.exec(ch.stdout)?.[1]?.trim();
    if (leap === 'Not synchronised') return [problem('clock', 'chrony is not synchronised', 'check chrony\'s sources: `chronyc sources`')];
    if (offset > 0.5) return [problem('clock', `the clock is ${offset.toFixed(3)} s off (chrony)`, 'let chrony step the clock: `chronyc makestep`')];
    return [ok('clock', `synchronised (chrony, offset ${Number.isFinite(offset) ? offset.toFixed(4) : '?'} s)`)];
  }
  return [warn('clock', 'cannot tell whether the clock is synchronised (no timedatectl or chronyc here, e.g. a container: the host keeps time)', 'make sure the host runs NTP (chrony, systemd-timesyncd)')];
}

/** Distributed mode: the Kafka brokers answer and Vigil's topics exist. */
export async function checkKafka(cfg: Config, log: Logger, timeoutMs: number): Promise<Finding[]> {
  const k = cfg.bus.kafka;
  if (!k) return [];
  const { createKafkaClient } = await import('../bus/kafka-client.js');
  const { topicOf } = await import('../bus/kafka-topics.js');
  const { topicNames } = await import('../contracts/messages.js');
  const client = createKafkaClient({ brokers: k.brokers, clientId: `${k.clientId}-doctor`, log: log.child({ check: 'kafka' }), security: { ssl: k.ssl, sasl: k.sasl } });
  const brokers = k.brokers.join(',');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)));
  try {
    const missing: string[] = [];
    const first = await Promise.race([client.topicOffsets(topicOf(k, 'frames')).then(() => true, (e: Error) => (/does not host this topic|UNKNOWN_TOPIC|not exist/i.test(e.message) ? false : Promise.reject(e))), timeout]);
    if (!first) missing.push(topicOf(k, 'frames'));
    for (const t of topicNames.filter((t) => t !== 'frames')) {
      const exists = await Promise.race([client.topicOffsets(topicOf(k, t)).then(() => true, () => false), timeout]);
      if (!exists) missing.push(topicOf(k, t));
    }
    const out = [ok('kafka', `brokers ${brokers} answer`)];
    if (missing.length) out.push(warn('kafka', `topics not created yet: ${missing.join(', ')}`, 'the stage services create them when they start; or check bus.kafka.topicPrefix'));
    else out.push(ok('kafka', `topics ${k.topicPrefix}{${topicNames.join(',')}} exist`));
    return out;
  } catch (err) {
    // TLS and SASL failures come as VigilErrors (VIGIL_ERR_KAFKA_TLS / _AUTH) with their own fix.
    if (isVigilError(err)) return [problem('kafka', `brokers ${brokers}: ${err.message}`, err.hint)];
    return [problem('kafka', `brokers ${brokers} unreachable: ${(err as Error).message}`, 'start the brokers or fix bus.kafka.brokers / KAFKA_BROKERS (host:port reachable from here)')];
  } finally {
    clearTimeout(timer);
    await Promise.race([client.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
  }
}

/**
 * Expected load (enabled cameras × fps) against this machine's measured rate: detection of a
 * camera-sized frame plus one face embedded per frame, for about `seconds`.
 */
export async function checkCapacity(cfg: Config, log: Logger, seconds: number): Promise<Finding[]> {
  const cams = cfg.cameras.filter((c) => c.enabled);
  const load = cams.reduce((n, c) => n + c.fps, 0);
  const width = Math.max(320, ...cams.map((c) => c.maxWidth));
  const height = Math.round((width * 9) / 16);
  const engine = await openEngine(cfg, log, { fetch: false });
  try {
    const frame = { width, height, data: new Uint8Array(width * height * 3).fill(128) };
    const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(128) };
    await engine.detect(frame); // warm-up: first runs allocate
    await engine.embed([face]);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000 || n < 3) {
      await engine.detect(frame);
      await engine.embed([face]);
      n++;
    }
    const rate = n / ((performance.now() - t0) / 1000);
    const what = `load ${load} frame/s (${cams.length} camera(s)); this machine does ~${rate.toFixed(1)} frame/s (${width}x${height}, 1 face/frame, profile "${engine.profile.name}", ${cfg.inference.provider}, ${cfg.inference.threads} thread(s))`;
    if (load > rate) return [problem('capacity', what, 'lower cameras[].fps, use a lighter profile (`vigil models list`), raise inference.threads or add inference replicas (distributed mode)')];
    if (load > rate * 0.7) return [warn('capacity', `${what}: little headroom for busy scenes`, 'lower cameras[].fps or raise inference.threads')];
    return [ok('capacity', what)];
  } finally {
    await engine.close();
  }
}

/** Whether a TCP connection to host:port opens within timeoutMs (null) or why not. */
function tcpProbe(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, timeout: timeoutMs });
    sock.once('connect', () => (sock.destroy(), resolve(null)));
    sock.once('timeout', () => (sock.destroy(), resolve(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Each enabled sink: a webhook's host accepts connections; an MQTT broker accepts Vigil's login. */
export async function checkSinks(cfg: Config, timeoutMs: number): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const s of cfg.sinks.filter((x) => x.enabled)) {
    const check = `sink ${s.id}`;
    const shown = safeUrl(s.url);
    if (s.type === 'webhook') {
      const u = new URL(s.url);
      const why = await tcpProbe(u.hostname, Number(u.port || (u.protocol === 'https:' ? 443 : 80)), timeoutMs);
      out.push(why ? problem(check, `webhook ${shown} unreachable (${why})`, 'check the receiver is up and the URL in sinks[].url; alerts wait in the outbox meanwhile') : ok(check, `webhook ${shown} accepts connections`));
      continue;
    }
    const { default: mqtt } = await import('mqtt');
    const why = await new Promise<string | null>((resolve) => {
      const c = mqtt.connect(s.url, { clientId: `vigil-doctor-${process.pid}`, username: s.username, password: s.password, reconnectPeriod: 0, connectTimeout: timeoutMs });
      const done = (r: string | null): void => {
        c.end(true);
        resolve(r);
      };
      c.once('connect', () => done(null));
      c.once('error', (e) => done(redactSecrets(e.message, s.url)));
      setTimeout(() => done(`no answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs + 500).unref();
    });
    out.push(why ? problem(check, `MQTT broker ${shown}: ${why}`, /auth|not authori[sz]ed|bad user/i.test(why) ? 'check sinks[].username and password' : 'check the broker is up and sinks[].url (host:port)') : ok(check, `MQTT broker ${shown} accepts Vigil's login`));
  }
  return out;
}
