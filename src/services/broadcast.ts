import { BroadcastServer } from '../broadcast/server.js';
import { ensureToken } from '../broadcast/token.js';
import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { Bus } from '../contracts/bus.js';
import type { Logger } from '../log.js';
import { registry } from '../metrics.js';
import { dedupeBus, dedupeKeys } from './dedupe.js';
import { never, type RunningService } from './service.js';
import { kafkaConfigOf } from './stages.js';

/**
 * `vigil broadcast`: matches topic to WebSocket clients, with the embedded mode's BroadcastServer.
 * Camera status from the live ingest goes to the clients too, and /metrics is served on the same port.
 * Delivery through Kafka is at-least-once, so a match event can arrive twice (a stage restarted
 * before committing); the last `dedupeWindow` event ids are remembered and a repeat is not sent.
 * Several broadcasters may run, each with a consumer group of its own (--group), e.g. behind a load balancer.
 */
export async function startBroadcast(cfg: Config, log: Logger, o: { port?: number; group?: string } = {}): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'broadcast');
  const { token, file, generated } = await ensureToken(cfg.dataDir, cfg.broadcast.token);
  const kafka = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }) });
  let duplicates = 0;
  const bus = dedupeBus(kafka, { matches: dedupeKeys.matches }, k.dedupeWindow, (_t, key) => {
    duplicates++;
    log.debug({ event: key.split('\0')[0] }, 'redelivered match event not sent again');
  });
  // Every broadcaster must see every event: a second one runs with a group of its own (--group).
  const group = o.group;
  const wrapped: Bus = group ? { ...bus, subscribe: (t, opts, h) => bus.subscribe(t, { ...opts, group }, h) } : bus;
  const server = new BroadcastServer({ bus: wrapped, ...cfg.broadcast, port: o.port ?? cfg.broadcast.port, token, log: log.child({ stage: 'broadcast' }), metrics: cfg.metrics.port === undefined ? registry : undefined, metricsToken: cfg.metrics.token });
  try {
    await kafka.start();
    await server.start();
    await kafka.ready();
  } catch (err) {
    await server.stop();
    await kafka.close();
    throw err;
  }
  return {
    name: 'broadcast',
    info: { host: cfg.broadcast.host, port: server.port, tokenFile: file ?? 'broadcast.token in the config', tokenGenerated: generated },
    done: never,
    exitCode: () => 0,
    health: () => ({ clients: server.clients, sent: server.sent, duplicatesDropped: duplicates }),
    async stop() {
      await server.stop();
      await kafka.close();
    },
  };
}
