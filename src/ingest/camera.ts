import { statSync } from 'node:fs';
import type { Bus } from '../contracts/bus.js';
import type { CameraState, CameraStatus, FrameMsg } from '../contracts/messages.js';
import type { CameraConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { CAMERA_STATES, forgetCamera, type IngestMetrics, type RestartReason } from '../metrics.js';
import { backoffDelay } from './backoff.js';
import { cameraError } from './camera-errors.js';
import { IngestFailure } from './failure.js';
import { decode, probe, type DecodedFrame, type DecodeHandle, type DecodeOptions, type DecodeSummary, type ProbeInfo } from './ffmpeg.js';
import { checkRecording, DEFAULT_PROTOCOLS, inputOf, isLiveUrl, refineFailure, type Input } from './input.js';
import { safeUrl } from '../util/redact.js';

/**
 * How a camera runs. The same component, ffmpeg session loop and error mapper serve both:
 *
 * - 'replay' (`vigil replay`, files under `vigil ingest`): exact sampling (frame n at n/fps), the
 *   file's own timeline (its creation_time tag, else the moment it opened), publishing waits while
 *   the bus is full (nothing lost), a recording that ends early is reported truncated, and the
 *   camera stops at the end or at its first failure: no restarts.
 * - 'live' (`vigil start`, streams under `vigil ingest`): sampling by the stream's own clock, the
 *   wall clock at receipt, the frames topic drops the oldest when inference is behind, a stall
 *   watchdog, and restarts with exponential backoff for as long as the camera is configured.
 */
export type CameraPolicy = 'replay' | 'live';

/** Supervision timings (config `ingest`; tests pass short ones). */
export interface CameraTiming {
  /** A live camera with no frame for this long is restarted, ms. */
  readonly stallTimeoutMs: number;
  /** A camera with no first frame this long after (re)connecting (the probe included) fails, ms. */
  readonly openTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Live this long: the next failure backs off from backoffInitialMs again, ms. */
  readonly stableAfterMs: number;
}

export interface CameraOptions {
  readonly camera: CameraConfig;
  readonly policy: CameraPolicy;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  readonly timing: CameraTiming;
  /** ffmpeg decoder threads (0: ffmpeg's choice). */
  readonly decoderThreads?: number;
  /** Schemes a camera URL may use (config `ingest.protocols`). */
  readonly protocols?: readonly string[];
  /** Jitter source for the backoff, [0, 1). */
  readonly random?: () => number;
  /** Called on every state change (after it is published). */
  readonly onStatus?: (s: CameraStatus) => void;
}

/** How a camera finished (replay: at the end of its file or its first failure; live: when stopped). */
export interface CameraResult {
  readonly camera: string;
  readonly frames: number;
  /** Frames the bus refused (replay waits, so 0 unless the bus was closed under it). */
  readonly dropped: number;
  /** The recording's length, s; null for a stream or when it never opened. */
  readonly duration: number | null;
  /** The source's picture size as probed; null when it never opened (or a live stream that is not probed). */
  readonly size: { readonly width: number; readonly height: number } | null;
  /** Why it finished early; null when it ended cleanly (or was stopped). */
  readonly error: VigilError | null;
}

type Outcome =
  | { readonly kind: 'stopped' | 'reconfigured' }
  | { readonly kind: 'ended' | 'failed'; readonly error: VigilError; readonly reason: RestartReason; readonly liveMs: number };

/** The open watchdog (a tick after openTimeoutMs) ends a hung probe with OPEN_TIMEOUT; the probe's own timer is only a backstop, so it must not fire first. */
const PROBE_GRACE_MS = 5000;

const DOWN: ReadonlySet<CameraState> = new Set(['connecting', 'stalled', 'backoff']);

/** Output size: the source scaled down to maxWidth, both sides even (yuv->rgb scalers need it). */
export function outputSize(src: { width: number; height: number }, maxWidth: number): { width: number; height: number } {
  const w = Math.min(src.width, maxWidth);
  const even = (v: number) => Math.max(2, Math.round(v / 2) * 2);
  return { width: even(w), height: even((src.height * w) / src.width) };
}

/**
 * Why a cleanly ended replay is short: null when it decoded (about) as long as its container says.
 * A recording cut off mid-way still demuxes to its last complete packet and ffmpeg exits 0 on it.
 */
export function truncation(info: ProbeInfo, frames: number, fps: number, summary: DecodeSummary): string | null {
  const expected = info.videoDuration ?? info.duration;
  if (expected === null) return null;
  const decoded = frames / fps;
  const short = expected - decoded;
  // One sampling interval either way is rounding; a stream a little shorter than its audio is normal.
  if (short <= Math.max(2, 3 / fps) || decoded >= 0.9 * expected) return null;
  const said = summary.errors.at(-1)?.replace(/^\[[\w\s.,/-]+ @ 0x[0-9a-f]+\]\s*/i, '');
  return `decoded ${decoded.toFixed(1)} s of the ${expected.toFixed(1)} s its container states${said ? ` (ffmpeg: ${said})` : ''}`;
}

/**
 * One camera, for as long as it is configured:
 *
 *   connecting --first frame--> live --no frame for stallTimeoutMs--> stalled --> backoff --> connecting   (live)
 *   connecting --error, exit or no frame for openTimeoutMs--> backoff (1 s, 2 s, 4 s ... 30 s) --> connecting   (live)
 *   connecting --first frame--> live --end of file--> ended;  any failure --> ended, with the error   (replay)
 *   any --enabled: false--> disabled;  a file that ends (no loop) --> ended;  removed --> stopped
 *
 * Each change is published on the bus's `status` topic (never dropped), logged, and mirrored in the
 * metrics. Frames carry a per-camera sequence number that keeps counting across reconnects.
 */
export class Camera {
  readonly #o: CameraOptions;
  #cam: CameraConfig;
  #state: CameraState | null = null;
  #seq = 0;
  #frames = 0;
  #dropped = 0;
  #duration: number | null = null;
  #size: { width: number; height: number } | null = null;
  #attempt = 0;
  #retryInMs: number | null = null;
  #lastFrameAt = 0;
  #lastCaptured = 0;
  #error: VigilError | null = null;
  #downSince: number | null = null;
  #stopped = false;
  #pending: 'reconfigured' | null = null;
  /** Ends the current wait or session early (reconfigure, stop). */
  #kick: (() => void) | undefined;
  #handle: DecodeHandle | undefined;
  #loop: Promise<CameraResult> | undefined;

  constructor(o: CameraOptions) {
    this.#o = o;
    this.#cam = o.camera;
  }

  get id(): string {
    return this.#cam.id;
  }

  get config(): CameraConfig {
    return this.#cam;
  }

  get policy(): CameraPolicy {
    return this.#o.policy;
  }

  /** The ffmpeg decoder's process id while a session runs. */
  get pid(): number | undefined {
    return this.#handle?.pid;
  }

  get state(): CameraState | null {
    return this.#state;
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      // The loop handles every camera failure itself; reaching here is a bug, and must not go unseen.
      this.#o.log.error({ err: (err as Error).message }, 'camera crashed');
      const { error } = cameraError(this.#cam.id, this.#cam.url, err);
      return this.#result(error);
    });
  }

  /** Starts the camera and resolves when it finishes: replay at the end of its file or its first failure; live once stopped. */
  run(): Promise<CameraResult> {
    this.start();
    return this.#loop!;
  }

  /** Applies a changed config now: the camera reconnects with it (without waiting for a backoff). */
  reconfigure(camera: CameraConfig): void {
    if (camera.id !== this.#cam.id) throw new Error(`camera id changed from ${this.#cam.id} to ${camera.id}`);
    this.#cam = camera;
    this.#pending = 'reconfigured';
    this.#kick?.();
  }

  /** The same camera under a new display name: shown from the next status on, the stream left alone. */
  rename(camera: CameraConfig): void {
    if (camera.id !== this.#cam.id) throw new Error(`camera id changed from ${this.#cam.id} to ${camera.id}`);
    this.#cam = camera;
  }

  /** Stops the camera for good (removed from the config or shutting down); its metrics go away. */
  async stop(): Promise<void> {
    if (this.#stopped) {
      await this.#loop;
      return;
    }
    this.#stopped = true;
    this.#kick?.();
    await this.#loop;
    this.#setState('stopped');
    forgetCamera(this.#o.metrics, this.#cam.id);
  }

  status(previous: CameraState | null = null): CameraStatus {
    return {
      kind: 'camera-status',
      v: 1,
      camera: this.#cam.id,
      name: this.#cam.name ?? null,
      state: this.#state ?? 'connecting',
      previous,
      at: new Date().toISOString(),
      url: safeUrl(this.#cam.url),
      attempt: this.#attempt,
      retryInMs: this.#state === 'backoff' ? this.#retryInMs : null,
      frames: this.#frames,
      lastFrameAt: this.#lastFrameAt ? new Date(this.#lastFrameAt).toISOString() : null,
      error: this.#error && this.#state !== 'live' ? { code: this.#error.code, message: this.#error.message } : null,
    };
  }

  #result(error: VigilError | null): CameraResult {
    return { camera: this.#cam.id, frames: this.#frames, dropped: this.#dropped, duration: this.#duration, size: this.#size, error };
  }

  async #run(): Promise<CameraResult> {
    const { timing, log, metrics } = this.#o;
    const replay = this.#o.policy === 'replay';
    while (!this.#stopped) {
      this.#pending = null;
      const cam = this.#cam;
      if (!cam.enabled) {
        this.#error = null;
        this.#setState('disabled');
        await this.#sleep(Infinity);
        continue;
      }
      this.#setState('connecting');
      const outcome = await this.#session(cam);
      if (outcome.kind === 'stopped' || this.#stopped) break;
      // Reconfigured while it ran: reconnect with the new settings at once.
      if (outcome.kind === 'reconfigured' || this.#pending) {
        this.#attempt = 0;
        continue;
      }
      const failure = outcome as Extract<Outcome, { kind: 'ended' | 'failed' }>;
      this.#error = failure.error;
      const endOfFile = failure.kind === 'ended' && !isLiveUrl(cam.url) && !cam.loop;
      if (replay || endOfFile) {
        // Replay stops here, cleanly or with its error; a live camera's file stays ended until reconfigured.
        if (endOfFile) this.#error = null;
        this.#setState('ended');
        if (this.#error) log.error({ code: this.#error.code, err: this.#error.message }, 'camera failed');
        else log.info({ frames: this.#frames, dropped: this.#dropped }, 'camera ended (end of file)');
        if (replay) return this.#result(this.#error);
        await this.#sleep(Infinity);
        continue;
      }
      metrics.restarts.inc({ camera: cam.id, reason: failure.reason });
      if (failure.liveMs >= timing.stableAfterMs) this.#attempt = 0;
      const delay = backoffDelay(this.#attempt, { initialMs: timing.backoffInitialMs, maxMs: timing.backoffMaxMs }, this.#o.random);
      this.#attempt++;
      this.#retryInMs = delay;
      metrics.backoff.set({ camera: cam.id }, delay / 1000);
      log.warn({ code: failure.error.code, err: failure.error.message, attempt: this.#attempt, retryInMs: delay }, 'camera down; restarting after backoff');
      this.#setState('backoff');
      await this.#sleep(delay);
      metrics.backoff.set({ camera: cam.id }, 0);
      if (this.#pending) this.#attempt = 0;
    }
    return this.#result(null);
  }

  /** One ffmpeg run (the probe included), until it exits, stalls, is reconfigured or stopped. */
  async #session(cam: CameraConfig): Promise<Outcome> {
    const { timing, metrics } = this.#o;
    const replay = this.#o.policy === 'replay';
    const shownUrl = safeUrl(cam.url);
    const failed = (err: unknown, liveMs = 0): Outcome => ({ kind: 'failed', ...cameraError(cam.id, cam.url, err), liveMs });
    // A camera sampled slower than the timeouts (fps 0.05: one frame per 20 s) is not stalled between frames.
    const interval = 1000 / cam.fps;
    const stallTimeoutMs = Math.max(timing.stallTimeoutMs, 3 * interval);
    const openTimeoutMs = Math.max(timing.openTimeoutMs, 3 * interval);
    const started = Date.now();
    let liveSince = 0;
    let verdict: Outcome | undefined;
    let handle: DecodeHandle | undefined;
    // Ends the probe or the decode, whichever is running.
    const abort = new AbortController();
    const end = (o: Outcome): void => {
      verdict ??= o;
      abort.abort(o);
      handle?.stop();
    };
    this.#kick = () => end(this.#stopped ? { kind: 'stopped' } : { kind: 'reconfigured' });
    const liveMs = (): number => (liveSince ? Date.now() - liveSince : 0);
    // The watchdogs: no first frame within openTimeoutMs of connecting (probe included); live only: a stall.
    const tick = setInterval(
      () => {
        const now = Date.now();
        this.#accountDowntime(now);
        if (verdict) return;
        if (this.#state === 'connecting' && now - started > openTimeoutMs) {
          const error = new VigilError('VIGIL_ERR_INGEST_OPEN_TIMEOUT', { camera: cam.id, url: shownUrl, seconds: +(openTimeoutMs / 1000).toFixed(1) });
          end({ kind: 'failed', error, reason: 'open_timeout', liveMs: 0 });
        } else if (!replay && this.#state === 'live' && now - this.#lastFrameAt > stallTimeoutMs) {
          const error = new VigilError('VIGIL_ERR_INGEST_STALLED', { camera: cam.id, url: shownUrl, seconds: +((now - this.#lastFrameAt) / 1000).toFixed(1) });
          metrics.stalls.inc({ camera: cam.id });
          this.#error = error;
          end({ kind: 'failed', error, reason: 'stalled', liveMs: liveMs() });
          this.#setState('stalled');
        }
      },
      Math.max(20, Math.min(250, stallTimeoutMs / 4, openTimeoutMs / 4)),
    );
    try {
      const protocols = this.#o.protocols ?? DEFAULT_PROTOCOLS;
      let info: ProbeInfo | null = null;
      let input: Input | undefined;
      try {
        input = inputOf(cam.url, protocols);
        if (replay) await checkRecording(input);
        // Replay needs the size and timeline of everything it reads; live, a file's duration (looping mediaTime).
        if (replay || input.path !== null) info = await probe(cam.url, { signal: abort.signal, protocols, transport: cam.transport, timeoutMs: openTimeoutMs + PROBE_GRACE_MS });
      } catch (err) {
        return verdict ?? failed(input ? await refineFailure(input, err) : err);
      }
      if (verdict) return verdict;
      if (this.#stopped) return { kind: 'stopped' };
      if (this.#pending) return { kind: 'reconfigured' };
      this.#duration = info?.duration ?? null;
      this.#size = info ? { width: info.width, height: info.height } : null;
      const opts: DecodeOptions = {
        url: cam.url,
        fps: cam.fps,
        realtime: cam.realtime,
        loop: cam.loop,
        transport: cam.transport,
        protocols,
        tuning: this.#o.decoderThreads === undefined ? undefined : { threads: this.#o.decoderThreads },
      };
      const onFirst = (): void => {
        if (!liveSince) liveSince = Date.now();
      };
      if (replay) {
        const frameOf = this.#replayTimeline(cam, info!);
        handle = decode({ ...opts, sampling: 'exact', size: outputSize(info!, cam.maxWidth) }, {
          onFrame: async (f) => {
            if (verdict) return;
            onFirst();
            this.#counted(cam);
            if (!(await this.#o.bus.publish('frames', frameOf(f, this.#seq++)))) this.#drop(cam);
          },
        });
      } else {
        handle = decode({ ...opts, sampling: 'live', size: { maxWidth: cam.maxWidth } }, {
          onFrame: (f) => {
            if (verdict) return;
            onFirst();
            this.#onLiveFrame(cam, f, info?.duration ?? null);
          },
        });
      }
      this.#handle = handle;
      let summary: DecodeSummary;
      try {
        summary = await handle.done;
      } catch (err) {
        return verdict ?? failed(err, liveMs());
      }
      if (verdict) return verdict;
      const short = replay && !cam.loop && info ? truncation(info, this.#frames, cam.fps, summary) : null;
      if (short) return failed(new IngestFailure('truncated', short, 0), liveMs());
      const error = new VigilError('VIGIL_ERR_INGEST_ENDED', { camera: cam.id, url: shownUrl });
      return { kind: 'ended', error, reason: 'ended', liveMs: liveMs() };
    } finally {
      clearInterval(tick);
      this.#handle = undefined;
      this.#kick = undefined;
    }
  }

  /**
   * Replay's FrameMsg for output frame n: its capture time is its place in the file mapped onto the
   * file's start, so a replayed recording keeps its own timeline and the same file gives the same
   * capture times and alert ids on every run: its creation_time tag, else its modification time less
   * its duration (a URL: the moment it opened).
   */
  #replayTimeline(cam: CameraConfig, info: ProbeInfo): (f: DecodedFrame, seq: number) => FrameMsg {
    const live = info.duration === null;
    const t0 = !live && !cam.realtime ? (info.creationTime ?? fileStart(cam.url, info.duration)) : Date.now();
    return (f, seq) => {
      const mediaTime = live ? null : f.index / cam.fps;
      return {
        kind: 'frame',
        v: 1,
        camera: cam.id,
        seq,
        capturedAt: live ? Date.now() : t0 + (mediaTime ?? 0) * 1000,
        mediaTime: cam.loop && info.duration && mediaTime !== null ? mediaTime % info.duration : mediaTime,
        image: { width: f.width, height: f.height, data: f.data },
      };
    };
  }

  /** A frame arrived: the camera is live, and its counters move. */
  #counted(cam: CameraConfig): void {
    const { metrics } = this.#o;
    const now = Date.now();
    this.#lastFrameAt = now;
    this.#frames++;
    if (this.#state !== 'live') {
      this.#error = null;
      this.#setState('live');
    }
    metrics.frames.inc({ camera: cam.id });
    metrics.lastFrame.set({ camera: cam.id }, now / 1000);
  }

  #drop(cam: CameraConfig): void {
    this.#dropped++;
    this.#o.metrics.dropped.inc({ camera: cam.id });
  }

  /** Live: stamped with the wall clock at receipt and the stream's own time; never waits for the bus. */
  #onLiveFrame(cam: CameraConfig, f: DecodedFrame, duration: number | null): void {
    this.#counted(cam);
    // Wall clock at receipt, kept strictly increasing per camera (the clock may step back).
    const capturedAt = Math.max(this.#lastFrameAt, this.#lastCaptured + 1);
    this.#lastCaptured = capturedAt;
    const msg: FrameMsg = {
      kind: 'frame',
      v: 1,
      camera: cam.id,
      seq: this.#seq++,
      capturedAt,
      mediaTime: duration && f.pts !== null ? f.pts % duration : null,
      streamTime: f.pts,
      image: { width: f.width, height: f.height, data: f.data },
    };
    // The frames topic drops the oldest when inference is behind.
    void this.#o.bus.publish('frames', msg).then((ok) => {
      if (!ok) this.#drop(cam);
    });
  }

  #setState(state: CameraState): void {
    if (state === this.#state && state !== 'backoff') return;
    const now = Date.now();
    this.#accountDowntime(now);
    const previous = this.#state;
    this.#state = state;
    this.#downSince = DOWN.has(state) ? now : null;
    const { metrics, log, bus } = this.#o;
    const camera = this.#cam.id;
    if (state !== 'stopped') {
      for (const s of CAMERA_STATES) metrics.state.set({ camera, state: s }, s === state ? 1 : 0);
      metrics.up.set({ camera }, state === 'live' ? 1 : 0);
    }
    const status = this.status(previous);
    const fields = { state, previous, attempt: status.attempt, retryInMs: status.retryInMs ?? undefined, code: status.error?.code };
    if (state === 'stalled') log.warn({ ...fields, err: status.error?.message }, 'camera stalled');
    else log.info(fields, 'camera state');
    void bus.publish('status', status);
    this.#o.onStatus?.(status);
  }

  #accountDowntime(now: number): void {
    if (this.#downSince === null) return;
    this.#o.metrics.downtime.inc({ camera: this.#cam.id }, (now - this.#downSince) / 1000);
    this.#downSince = now;
  }

  /** Waits `ms` (Infinity: until kicked); reconfigure() and stop() end the wait early. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped || this.#pending) return Promise.resolve();
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(t);
        this.#kick = undefined;
        resolve();
      };
      if (Number.isFinite(ms)) t = setTimeout(done, ms);
      this.#kick = done;
    });
  }
}

/** Start of a recording without a creation_time tag: when the file was last written, less its length; now for a URL. */
function fileStart(url: string, duration: number | null): number {
  try {
    return Math.round(statSync(url).mtimeMs - (duration ?? 0) * 1000);
  } catch {
    return Date.now();
  }
}
