import { BroadcastServer } from './broadcast/server.js';
import { MemoryBus, embeddedPolicies } from './bus/memory.js';
import type { Bus } from './contracts/bus.js';
import type { MatchEvent } from './contracts/messages.js';
import type { CameraConfig, Config } from './config/schema.js';
import { isVigilError } from './errors.js';
import { InferenceStage } from './inference/stage.js';
import { CameraSet } from './ingest/cameras.js';
import { CameraSource, type SourceResult } from './ingest/source.js';
import type { Logger } from './log.js';
import { ingestMetrics, registry } from './metrics.js';
import { MatcherStage } from './matcher/stage.js';
import type { Runtime } from './runtime.js';
import { identifyBy, inferenceStage, matcherStage } from './stages.js';

export interface PipelineOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly runtime: Runtime;
  /** Live: a full frame queue drops the oldest frame. Replay: ingest waits, nothing is lost. */
  readonly live: boolean;
  /** WebSocket token; undefined: no WebSocket server (e.g. `vigil replay`). */
  readonly broadcastToken?: string;
}

/**
 * The embedded mode's composition root: one process, the in-memory bus, every stage.
 * Stages start from sink to source (broadcast, matcher, inference, then cameras) so nothing is
 * produced before something consumes it, and stop in the opposite order.
 */
export class Pipeline {
  readonly bus: Bus;
  readonly inference: InferenceStage;
  readonly matcher: MatcherStage;
  readonly broadcast: BroadcastServer | undefined;
  /** Live cameras (`vigil start`): one supervisor each; apply() a new list to reload. */
  readonly cameras: CameraSet;
  readonly #o: PipelineOptions;
  readonly #sources = new Map<string, CameraSource>();
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';

  constructor(o: PipelineOptions) {
    this.#o = o;
    const { cfg, log, runtime } = o;
    this.bus = new MemoryBus(embeddedPolicies(cfg.queues, o.live), (topic, group, err, count) =>
      log.error({ topic, group, count, err: err instanceof Error ? err.message : String(err) }, 'handler failed; messages dead-lettered'),
    );
    this.broadcast =
      o.broadcastToken === undefined
        ? undefined
        : new BroadcastServer({ bus: this.bus, ...cfg.broadcast, token: o.broadcastToken, log: log.child({ stage: 'broadcast' }), metrics: registry });
    this.matcher = matcherStage(cfg, this.bus, runtime.index, runtime.threshold, undefined, log);
    this.inference = inferenceStage(cfg, this.bus, runtime.engine, log, { workers: runtime.workers, identify: identifyBy(runtime.index, runtime.threshold) });
    this.cameras = new CameraSet({ bus: this.bus, log: log.child({ stage: 'ingest' }), metrics: ingestMetrics(), timing: cfg.ingest, decoderThreads: cfg.ingest.decoderThreads });
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    await this.broadcast?.start();
    await this.matcher.start();
    await this.inference.start();
    this.#state = 'running';
  }

  /** Calls `fn` for every match event (in order); returns unsubscribe. */
  onMatch(group: string, fn: (e: MatchEvent) => void | Promise<void>): () => void {
    return this.bus.subscribe('matches', { group }, async (events) => {
      for (const e of events) await fn(e);
    });
  }

  /**
   * Runs one camera or file until it ends. A camera that fails (cannot open, corrupt video) is
   * logged with its error code and resolves with the error; the pipeline and other cameras go on.
   */
  async runSource(camera: CameraConfig): Promise<SourceResult | { camera: string; error: Error }> {
    const log = this.#o.log.child({ camera: camera.id });
    const src = new CameraSource({ camera, bus: this.bus, log });
    this.#sources.set(camera.id, src);
    try {
      return await src.run();
    } catch (err) {
      const e = err as Error;
      log.error({ code: isVigilError(err) ? err.code : undefined, err: e.message }, 'camera failed');
      return { camera: camera.id, error: e };
    } finally {
      this.#sources.delete(camera.id);
    }
  }

  /** Resolves when every queued frame has gone through every stage. */
  drain(): Promise<void> {
    return this.bus.idle();
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    await this.cameras.stop();
    for (const s of this.#sources.values()) s.stop();
    await this.inference.stop();
    await this.matcher.stop();
    await this.broadcast?.stop();
    await this.bus.close();
    this.#state = 'stopped';
  }
}
