import { auditRequester } from '../audit/kafka.js';
import { watchlistDirectory } from '../broadcast/api.js';
import { operatingPointOf, unknownOperatingPoint, type OperatingPoint } from '../broadcast/operating-point.js';
import type { ApiRoute } from '../broadcast/routes.js';
import { broadcastServerFor } from '../broadcast/server.js';
import { ensureTokens } from '../broadcast/token.js';
import { WatchlistStore } from '../matcher/watchlist.js';
import { loadManifest } from '../models/manifest.js';
import { openEventStore } from '../store/events.js';
import { SinkService } from '../sinks/service.js';
import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { Bus } from '../contracts/bus.js';
import type { DismissalMsg } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { registry } from '../metrics.js';
import { dedupeBus, dedupeKeys } from './dedupe.js';
import { never, startOnBus, type RunningService } from './service.js';
import { kafkaConfigOf } from './kafka-config.js';

/**
 * `vigil broadcast`: matches topic to WebSocket clients, with the embedded mode's BroadcastServer.
 * Camera status from the live ingest and sightings from the matcher go to the clients too (stored first; a redelivered sighting is a no-op by its id), and /metrics is served on the same port.
 * Delivery through Kafka is at-least-once, so a match event can arrive twice (a stage restarted
 * before committing); the last `dedupeWindow` event ids are remembered and a repeat is not sent.
 * Several broadcasters may run, each with a consumer group of its own (--group), e.g. behind a load balancer.
 * The service owns the event store (<dataDir>/events.db, SQLite): each event is stored before it is
 * sent, and Kafka's offset is committed after that, so a restart re-reads at most what was not yet
 * stored, and the store's (id, revision) key makes a re-read event a no-op. Each replica has its own
 * store (and its own acknowledgements): see README "Event store".
 */
export async function startBroadcast(cfg: Config, log: Logger, o: { port?: number; group?: string; apiRoutes?: readonly (readonly ApiRoute[])[] } = {}): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'broadcast');
  const { tokens, file, generated } = await ensureTokens(cfg.dataDir, cfg.broadcast);
  const store = openEventStore(cfg.dataDir, cfg.events, { registry, onListenerError: (err) => log.error({ err: (err as Error).message }, 'event listener failed') });
  const kafka = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }) });
  let duplicates = 0;
  const bus = dedupeBus(kafka, { matches: dedupeKeys.matches }, k.dedupeWindow, (_t, key) => {
    duplicates++;
    log.debug({ event: key.split('\0')[0] }, 'redelivered match event not sent again');
  });
  // Every broadcaster must see every event: a second one runs with a group of its own (--group).
  const group = o.group;
  const wrapped: Bus = group ? { ...bus, subscribe: (t, opts, h) => bus.subscribe(t, { ...opts, group }, h) } : bus;
  // No engine here: the operating point is the one the newest stored event was matched at.
  const manifest = loadManifest();
  let op: OperatingPoint = unknownOperatingPoint;
  const follow = (e: { kind: string; profile?: string; threshold?: number }): void => {
    if (e.kind === 'match' && e.profile && e.threshold !== undefined && (e.profile !== op.profile || e.threshold !== op.threshold)) {
      op = operatingPointOf(e.profile, e.threshold, manifest.profiles[e.profile]?.calibration);
    }
  };
  for (const e of (await store.readBackward(null, 1, { types: ['alert', 'update'] })).events) follow(e);
  store.subscribe(follow);
  const watchlist = await new WatchlistStore(cfg.dataDir).load().catch(() => undefined);
  // Outbound alerts (config sinks) from this replica's store; GET /api/sinks on its port.
  const sinks = cfg.sinks.length ? new SinkService({ cfg, store, log, manifest }) : undefined;
  const audit = auditRequester(kafka, log);
  const server = broadcastServerFor(cfg.broadcast, {
    bus: wrapped,
    store,
    auth: tokens,
    port: o.port,
    log: log.child({ stage: 'broadcast' }),
    metrics: cfg.metrics.port === undefined ? registry : undefined,
    metricsToken: cfg.metrics.token,
    subjects: watchlist && watchlistDirectory(watchlist),
    operatingPoint: () => op,
    routes: [...(sinks ? [sinks.routes] : []), ...(o.apiRoutes ?? [])],
    onAck: (a) => {
      // Into the audit topic through its one writer, as the embedded mode records it in audit.jsonl.
      audit({ actor: a.actor, action: `alert.${a.state}`, alert: a.eventId, camera: a.camera ?? null, subject: a.subjectId ?? null, note: a.note });
      // A dismissal reaches the matcher replicas, which keep the face as a negative example (as the embedded mode does).
      if (a.state !== 'dismissed' || !a.subjectId) return;
      const msg: DismissalMsg = { kind: 'dismissal', v: 1, alertId: a.eventId, subject: a.subjectId, camera: a.camera ?? '', actor: a.actor, at: a.at };
      kafka.publish('dismissals', msg).catch((err: unknown) => log.error({ err: (err as Error).message, alertId: a.eventId }, 'dismissal not sent to the matchers'));
    },
  });
  // Sinks first: a new sink's cursor is the store's head before this run writes anything.
  await sinks?.start();
  if (sinks) store.subscribe(() => sinks.notify());
  await startOnBus(kafka, server, async () => {
    await server.stop();
    await kafka.close();
    await sinks?.stop();
    await store.close();
  });
  return {
    name: 'broadcast',
    info: { host: cfg.broadcast.host, port: server.port, tls: server.tls, tokenFile: file, tokensGenerated: generated, events: store.file },
    done: never,
    exitCode: () => 0,
    health: () => ({ clients: server.clients, sent: server.sent, duplicatesDropped: duplicates }),
    async stop() {
      await server.stop();
      await kafka.close();
      await sinks?.stop();
      await store.close();
    },
  };
}
