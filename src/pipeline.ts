import { watchlistDirectory } from './broadcast/api.js';
import { operatingPointOf } from './broadcast/operating-point.js';
import { BroadcastServer, broadcastServerFor } from './broadcast/server.js';
import type { ApiRoute } from './broadcast/routes.js';
import { Tokens } from './broadcast/token.js';
import { openEventStore, type SqliteEventStore } from './store/events.js';
import { MemoryBus, embeddedPolicies } from './bus/memory.js';
import type { Bus } from './contracts/bus.js';
import type { MatchEvent } from './contracts/messages.js';
import type { Config } from './config/schema.js';
import { InferenceStage } from './inference/stage.js';
import { cameraSetOf, type CameraSet } from './ingest/cameras.js';
import type { Logger } from './log.js';
import { registry, watchQueues } from './metrics.js';
import { serveOps } from './metrics-http.js';
import { SinkService } from './sinks/service.js';
import { MatcherStage } from './matcher/stage.js';
import { WatchlistFollower } from './matcher/follow.js';
import { learnFromDismissal, watchlistApiDeps, watchlistRoutes } from './matcher/api.js';
import { auditLogOf } from './audit/log.js';
import { auditRoutes } from './audit/routes.js';
import type { Runtime } from './runtime.js';
import { identifyBy, inferenceStage, matcherStage } from './stages.js';
import { Visitors } from './visitors/service.js';
import { visitorRoutes } from './visitors/routes.js';

export interface PipelineOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly runtime: Runtime;
  /** Live: a full frame queue drops the oldest frame. Replay: ingest waits, nothing is lost. */
  readonly live: boolean;
  /** WebSocket token (admin); undefined with no `broadcastTokens` either: no broadcast server and no event store (e.g. `vigil replay`). */
  readonly broadcastToken?: string;
  /** Tokens per role (src/broadcast/token.ts ensureTokens). */
  readonly broadcastTokens?: Tokens;
  /** Other features' HTTP API routes, mounted on the broadcast port next to the event routes. */
  readonly apiRoutes?: readonly (readonly ApiRoute[])[];
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
  /** <dataDir>/events.db: every event is written here before it is broadcast (only with a broadcast server). */
  readonly events: SqliteEventStore | undefined;
  /**
   * The one camera entry point: apply() a camera list (again, to reload). Live pipelines run them
   * under the live policy (supervised until stopped); replay pipelines under the replay policy, each
   * to the end of its file; run() applies a list and gives each camera's result when it finishes.
   */
  readonly cameras: CameraSet;
  /** Applies watchlist changes made by any process to the running index (within ~0.5 s). */
  readonly watchlist: WatchlistFollower;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  readonly #cfg: Config;
  /** Outbound alerts (config sinks), reading the event store. */
  readonly sinks: SinkService | undefined;
  /** The own /metrics listener (config metrics.port). */
  ops: { port: number; close(): Promise<void> } | undefined;
  readonly #unwatch: (() => void)[] = [];
  /** Unknown visitors (config visitors.enabled; undefined when off: nothing about unknown faces is stored). */
  readonly visitors: Visitors | undefined;

  constructor(o: PipelineOptions) {
    const { cfg, log, runtime } = o;
    this.#cfg = cfg;
    this.bus = new MemoryBus(embeddedPolicies(cfg.queues, o.live), (topic, group, err, count) =>
      log.error({ topic, group, count, err: err instanceof Error ? err.message : String(err) }, 'handler failed; messages dead-lettered'),
    );
    const auth = o.broadcastTokens ?? (o.broadcastToken === undefined ? undefined : new Tokens([{ token: o.broadcastToken, role: 'admin', label: 'admin' }]));
    this.events = auth && openEventStore(cfg.dataDir, cfg.events, { registry, onListenerError: (err) => log.error({ err: (err as Error).message }, 'event listener failed') });
    const p = runtime.engine.profile;
    this.sinks = this.events && cfg.sinks.length ? new SinkService({ cfg, store: this.events, log }) : undefined;
    // Operators' decisions and watchlist changes made through the API go into the tamper-evident audit log.
    const audit = auditLogOf(cfg);
    const recordAudit = (entry: Parameters<typeof audit.record>[0]): void => {
      audit.record(entry).catch((err: unknown) => log.error({ err: (err as Error).message, action: entry.action }, 'audit log write failed'));
    };
    this.visitors = cfg.visitors.enabled
      ? new Visitors(cfg, { model: runtime.engine.model, profile: p.profile, log: log.child({ stage: 'visitors' }), onPurge: (numbers) => recordAudit({ actor: 'system', action: 'visitor.purge', visitors: numbers, reason: `not seen for ${cfg.visitors.retentionDays} days` }) })
      : undefined;
    this.matcher = matcherStage(cfg, this.bus, runtime.index, runtime.threshold, undefined, log, undefined, runtime.policy, this.visitors?.tracks);
    const watchlistApi = watchlistRoutes(
      watchlistApiDeps({ cfg, log, store: runtime.store, engine: runtime.engine, threshold: runtime.threshold, matcher: this.matcher, onChange: (c) => recordAudit({ actor: c.actor, action: `subject.${c.op}`, subject: c.subject }) }),
    );
    this.broadcast =
      auth && this.events
        ? broadcastServerFor(cfg.broadcast, {
            bus: this.bus,
            store: this.events,
            auth,
            log: log.child({ stage: 'broadcast' }),
            metrics: cfg.metrics.port === undefined ? registry : undefined,
            metricsToken: cfg.metrics.token,
            routes: [
              watchlistApi,
              visitorRoutes({ visitors: this.visitors?.store, watchlist: runtime.store, model: runtime.engine.model, onChange: (c) => recordAudit({ actor: c.actor, action: `visitor.${c.op}`, visitor: c.visitor, subject: c.subject ?? null }) }),
              auditRoutes(cfg.dataDir), ...(this.sinks ? [this.sinks.routes] : []), ...(o.apiRoutes ?? [])],
            onAck: (a) => {
              recordAudit({ actor: a.actor, action: `alert.${a.state}`, alert: a.eventId, camera: a.camera ?? null, subject: a.subjectId ?? null, note: a.note });
              // A face dismissed as a false match becomes a negative example for that subject.
              if (a.state === 'dismissed') learnFromDismissal(runtime.store, runtime.engine.model, this.matcher, a.eventId, log);
            },
            subjects: watchlistDirectory(runtime.store),
            operatingPoint: () => operatingPointOf(p.name, runtime.threshold, p.profile.calibration),
          })
        : undefined;
    this.watchlist = new WatchlistFollower({ store: runtime.store, index: runtime.index, policy: runtime.policy, from: runtime.indexSeq, log: log.child({ stage: 'watchlist' }) });
    this.inference = inferenceStage(cfg, this.bus, runtime.engine, log, { workers: runtime.workers, identify: identifyBy(runtime.index, runtime.threshold) });
    this.#unwatch.push(watchQueues(() => this.bus.stats(), cfg.queues));
    this.cameras = cameraSetOf(cfg, this.bus, log, o.live ? 'live' : 'replay');
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    // Sinks first: a new sink's cursor is the store's head before any event of this run is written.
    await this.sinks?.start();
    if (this.sinks && this.events) this.#unwatch.push(this.events.subscribe(() => this.sinks?.notify()));
    await this.broadcast?.start();
    const m = this.#cfg.metrics;
    if (m.port !== undefined && this.broadcast) this.ops = await serveOps(m.host, m.port, { registry, token: m.token, healthy: () => this.#state === 'running' });
    await this.matcher.start();
    this.watchlist.start();
    await this.inference.start();
    this.#state = 'running';
  }

  /** Calls `fn` for every match event (in order); returns unsubscribe. */
  onMatch(group: string, fn: (e: MatchEvent) => void | Promise<void>): () => void {
    return this.bus.subscribe('matches', { group }, async (events) => {
      for (const e of events) await fn(e);
    });
  }

  /** Resolves when every queued frame has gone through every stage. */
  drain(): Promise<void> {
    return this.bus.idle();
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    await this.cameras.stop();
    await this.inference.stop();
    await this.matcher.stop();
    this.watchlist.stop();
    await this.broadcast?.stop();
    await this.ops?.close();
    await this.bus.close();
    for (const u of this.#unwatch) u();
    await this.sinks?.stop();
    await this.events?.close();
    this.visitors?.close();
    this.#state = 'stopped';
  }
}
