import type { Bus } from '../contracts/bus.js';
import type { CameraState, CameraStatus, FrameMsg } from '../contracts/messages.js';
import type { CameraConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { safeUrl } from './redact.js';
import { CAMERA_STATES, forgetCamera, type IngestMetrics, type RestartReason } from '../metrics.js';
import { backoffDelay } from './backoff.js';
import { cameraError } from './camera-errors.js';
import { decode, isLiveUrl, probe, type DecodedFrame, type DecodeHandle } from './ffmpeg.js';

/** Supervision timings (config `ingest`; tests pass short ones). */
export interface SupervisorTiming {
  /** A live camera with no frame for this long is restarted, ms. */
  readonly stallTimeoutMs: number;
  /** A camera with no first frame this long after (re)connecting is restarted, ms. */
  readonly openTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Live this long: the next failure backs off from backoffInitialMs again, ms. */
  readonly stableAfterMs: number;
}

export interface SupervisorOptions {
  readonly camera: CameraConfig;
  readonly bus: Bus;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  readonly timing: SupervisorTiming;
  /** ffmpeg decoder threads (0: ffmpeg's choice). */
  readonly decoderThreads?: number;
  /** Jitter source for the backoff, [0, 1). */
  readonly random?: () => number;
  /** Called on every state change (after it is published). */
  readonly onStatus?: (s: CameraStatus) => void;
}

type Outcome =
  | { readonly kind: 'stopped' | 'reconfigured' }
  | { readonly kind: 'ended' | 'failed'; readonly error: VigilError; readonly reason: RestartReason; readonly liveMs: number };

const DOWN: ReadonlySet<CameraState> = new Set(['connecting', 'stalled', 'backoff']);

/**
 * Keeps one camera streaming for as long as it is configured:
 *
 *   connecting --first frame--> live --no frame for stallTimeoutMs--> stalled --> backoff --> connecting
 *   connecting --error, exit or no frame for openTimeoutMs--> backoff (1 s, 2 s, 4 s ... 30 s) --> connecting
 *   any --enabled: false--> disabled;  a file that ends (no loop) --> ended;  removed --> stopped
 *
 * Each change is published on the bus's `status` topic (never dropped), logged, and mirrored in the
 * metrics. Frames carry a per-camera sequence number that keeps counting across reconnects, the wall
 * clock at receipt (capturedAt) and the stream's own timestamp (streamTime).
 */
export class CameraSupervisor {
  readonly #o: SupervisorOptions;
  #cam: CameraConfig;
  #state: CameraState | null = null;
  #seq = 0;
  #frames = 0;
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
  #loop: Promise<void> | undefined;

  constructor(o: SupervisorOptions) {
    this.#o = o;
    this.#cam = o.camera;
  }

  get id(): string {
    return this.#cam.id;
  }

  get config(): CameraConfig {
    return this.#cam;
  }

  get state(): CameraState | null {
    return this.#state;
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      // The loop handles every camera failure itself; reaching here is a bug, and must not go unseen.
      this.#o.log.error({ err: (err as Error).message }, 'camera supervisor crashed');
    });
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
    if (this.#stopped) return this.#loop;
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

  async #run(): Promise<void> {
    const { timing, log, metrics } = this.#o;
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
      if (failure.kind === 'ended' && !isLiveUrl(cam.url) && !cam.loop) {
        this.#error = null;
        this.#setState('ended');
        log.info({ frames: this.#frames }, 'camera ended (end of file)');
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
  }

  /** One ffmpeg run, until it exits, stalls, is reconfigured or stopped. */
  async #session(cam: CameraConfig): Promise<Outcome> {
    const { timing, metrics } = this.#o;
    const shownUrl = safeUrl(cam.url);
    // A file's duration maps its looping timestamps back onto the file (mediaTime).
    let duration: number | null = null;
    if (!isLiveUrl(cam.url)) {
      try {
        duration = (await probe(cam.url)).duration;
      } catch (err) {
        const { error, reason } = cameraError(cam.id, cam.url, err);
        return { kind: 'failed', error, reason, liveMs: 0 };
      }
      if (this.#stopped) return { kind: 'stopped' };
      if (this.#pending) return { kind: 'reconfigured' };
    }
    // A camera sampled slower than the timeouts (fps 0.05: one frame per 20 s) is not stalled between frames.
    const interval = 1000 / cam.fps;
    const stallTimeoutMs = Math.max(timing.stallTimeoutMs, 3 * interval);
    const openTimeoutMs = Math.max(timing.openTimeoutMs, 3 * interval);
    const started = Date.now();
    let liveSince = 0;
    let verdict: Outcome | undefined;
    const handle: DecodeHandle = decode(
      {
        url: cam.url,
        fps: cam.fps,
        sampling: 'live',
        size: { maxWidth: cam.maxWidth },
        realtime: cam.realtime,
        loop: cam.loop,
        transport: cam.transport,
        tuning: this.#o.decoderThreads === undefined ? undefined : { threads: this.#o.decoderThreads },
      },
      {
        onFrame: (f) => {
          if (verdict) return;
          if (!liveSince) liveSince = Date.now();
          this.#onFrame(cam, f, duration);
        },
      },
    );
    const end = (o: Outcome): void => {
      verdict ??= o;
      handle.stop();
    };
    this.#kick = () => end(this.#stopped ? { kind: 'stopped' } : { kind: 'reconfigured' });
    const liveMs = (): number => (liveSince ? Date.now() - liveSince : 0);
    const tick = setInterval(
      () => {
        const now = Date.now();
        this.#accountDowntime(now);
        if (verdict) return;
        if (this.#state === 'connecting' && now - started > openTimeoutMs) {
          const error = new VigilError('VIGIL_ERR_INGEST_OPEN_TIMEOUT', { camera: cam.id, url: shownUrl, seconds: +(openTimeoutMs / 1000).toFixed(1) });
          end({ kind: 'failed', error, reason: 'open_timeout', liveMs: 0 });
        } else if (this.#state === 'live' && now - this.#lastFrameAt > stallTimeoutMs) {
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
      await handle.done;
      if (verdict) return verdict;
      const error = new VigilError('VIGIL_ERR_INGEST_ENDED', { camera: cam.id, url: shownUrl });
      return { kind: 'ended', error, reason: 'ended', liveMs: liveMs() };
    } catch (err) {
      if (verdict) return verdict;
      const { error, reason } = cameraError(cam.id, cam.url, err);
      return { kind: 'failed', error, reason, liveMs: liveMs() };
    } finally {
      clearInterval(tick);
      this.#kick = undefined;
    }
  }

  #onFrame(cam: CameraConfig, f: DecodedFrame, duration: number | null): void {
    const { bus, metrics } = this.#o;
    const now = Date.now();
    this.#lastFrameAt = now;
    this.#frames++;
    if (this.#state !== 'live') {
      this.#error = null;
      this.#setState('live');
    }
    metrics.frames.inc({ camera: cam.id });
    metrics.lastFrame.set({ camera: cam.id }, now / 1000);
    // Wall clock at receipt, kept strictly increasing per camera (the clock may step back).
    const capturedAt = Math.max(now, this.#lastCaptured + 1);
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
    // Live frames never wait: the frames topic drops the oldest when inference is behind.
    void bus.publish('frames', msg).then((ok) => {
      if (!ok) metrics.dropped.inc({ camera: cam.id });
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
