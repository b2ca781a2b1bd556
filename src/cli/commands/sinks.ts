import type { Command } from 'commander';
import { VigilError } from '../../errors.js';
import { collectProcessMetrics, registry } from '../../metrics.js';
import { serveOps } from '../../metrics-http.js';
import { SinkService } from '../../sinks/service.js';
import { openEventStore } from '../../store/events.js';
import { setup } from '../setup.js';

/**
 * `vigil sinks`: the outbox dispatchers on their own, reading the event store in dataDir (shared
 * with the process that writes it, SQLite WAL). `vigil start` runs them in-process; this is for
 * running delivery apart from the pipeline, or after it.
 */
export function register(program: Command): void {
  program
    .command('sinks')
    .description('deliver stored alerts to the configured webhook and MQTT sinks (at least once, resuming where delivery stopped)')
    .action(async (_o: unknown, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      if (!cfg.sinks.some((x) => x.enabled)) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: 'sinks: no enabled sink is configured, so `vigil sinks` has nothing to deliver' });
      // Retention is the writer's job: this process only reads (and delivers).
      const store = openEventStore(cfg.dataDir, { ...cfg.events, purgeIntervalMinutes: 0 });
      const svc = new SinkService({ cfg, store, log });
      await svc.start();
      collectProcessMetrics();
      const m = cfg.metrics;
      const ops = m.port === undefined ? undefined : await serveOps(m.host, m.port, { registry, token: m.token, healthy: () => true });
      log.info({ sinks: svc.dispatchers.map((d) => d.id), metrics: ops ? `${m.host}:${ops.port}` : undefined }, 'sinks ready');
      const stop = async (): Promise<void> => {
        const t = setTimeout(() => process.exit(1), 10_000);
        t.unref();
        await svc.stop();
        await ops?.close();
        await store.close();
        log.flush(() => process.exit(0));
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
