import type { ApiRoute } from '../broadcast/routes.js';
import type { Config, SinkConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { sinkMetrics, type SinkMetrics } from '../metrics.js';
import { loadManifest, type Manifest } from '../models/manifest.js';
import type { EventStore } from '../store/types.js';
import { SinkDispatcher, type Sink } from './dispatcher.js';
import { MqttSink } from './mqtt.js';
import { SinkState, sinksDbPath } from './state.js';
import { WebhookSink } from './webhook.js';

export function createSink(cfg: SinkConfig, log: Logger): Sink {
  return cfg.type === 'webhook' ? new WebhookSink(cfg) : new MqttSink(cfg, log);
}

export interface SinkServiceOptions {
  readonly cfg: Pick<Config, 'sinks' | 'dataDir' | 'broadcast'>;
  readonly store: EventStore;
  readonly log: Logger;
  readonly metrics?: SinkMetrics;
  readonly manifest?: Manifest;
  readonly pollMs?: number;
  readonly lease?: { readonly beatMs: number; readonly staleMs: number };
}

/**
 * Every configured sink's outbox dispatcher, sharing one state file (<dataDir>/sinks.db). Runs
 * wherever the event store is written (`vigil start`, the broadcast service) or on its own
 * (`vigil sinks`); GET /api/sinks shows each sink's state and dead letters.
 */
export class SinkService {
  readonly dispatchers: readonly SinkDispatcher[];
  readonly #state: SinkState;

  constructor(o: SinkServiceOptions) {
    const log = o.log.child({ stage: 'sinks' });
    this.#state = new SinkState(sinksDbPath(o.cfg.dataDir));
    const manifest = o.manifest ?? loadManifest();
    const metrics = o.metrics ?? sinkMetrics();
    this.dispatchers = o.cfg.sinks
      .filter((s) => s.enabled)
      .map(
        (s) =>
          new SinkDispatcher({
            sink: createSink(s, log),
            cfg: s,
            store: o.store,
            state: this.#state,
            log,
            metrics,
            payload: { manifest, publicUrl: o.cfg.broadcast.publicUrl },
            pollMs: o.pollMs,
            lease: o.lease,
          }),
      );
  }

  async start(): Promise<void> {
    await Promise.all(this.dispatchers.map((d) => d.start()));
  }

  /** An event was appended: dispatchers look at once. */
  notify(): void {
    for (const d of this.dispatchers) d.notify();
  }

  #stopped: Promise<void> | undefined;

  /** Stops every dispatcher (an event in flight is delivered again at the next start). Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= Promise.all(this.dispatchers.map((d) => d.stop())).then(() => this.#state.close());
    return this.#stopped;
  }

  /** GET /api/sinks (each sink's state and latest dead letters), GET /api/sinks/:id/dead-letters, POST …/dead-letters/retry (one more try each); admin only. */
  readonly routes: ApiRoute[] = [
    {
      method: 'GET',
      path: '/api/sinks',
      role: 'admin',
      handle: () => ({
        status: 200,
        body: { sinks: this.dispatchers.map((d) => ({ ...d.status(), recentDeadLetters: this.#deadLetters(d.id, 10) })) },
      }),
    },
    {
      method: 'GET',
      path: '/api/sinks/:id/dead-letters',
      role: 'admin',
      handle: (req) => {
        const id = req.params.id ?? '';
        if (!this.dispatchers.some((d) => d.id === id)) throw new VigilError('VIGIL_ERR_SINK_UNKNOWN', { sink: id });
        const limit = Math.min(500, Math.max(1, Number(req.query.get('limit') ?? 50) || 50));
        return { status: 200, body: { sink: id, deadLetters: this.#deadLetters(id, limit) } };
      },
    },
    {
      method: 'POST',
      path: '/api/sinks/:id/dead-letters/retry',
      role: 'admin',
      handle: (req) => {
        const id = req.params.id ?? '';
        const d = this.dispatchers.find((x) => x.id === id);
        if (!d) throw new VigilError('VIGIL_ERR_SINK_UNKNOWN', { sink: id });
        const requeued = this.#state.requeue(id);
        d.notify();
        return { status: 202, body: { sink: id, requeued } };
      },
    },
  ];

  #deadLetters(sink: string, limit: number): unknown[] {
    return this.#state.deadLetters(sink, limit).map(({ payload, ...d }) => ({ ...d, payload: JSON.parse(payload) as unknown }));
  }
}
