import { warnWithoutHeapFloor } from '../heap.js';
import { setup } from '../setup.js';
/**
 * The distributed mode's stage services, one process each, on Apache Kafka:
 *   vigil ingest | infer | match | broadcast   (plus `vigil publish-watchlist`, and `vigil audit-writer`)
 * They read the same config file and environment as `vigil start`; bus.kafka (or KAFKA_BROKERS)
 * says where the brokers are. Each logs "service ready" once it has joined its consumer groups,
 * serves /metrics and /healthz with --metrics, and stops cleanly on SIGINT/SIGTERM.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.js';
import { VigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { collectProcessMetrics } from '../../metrics.js';
import { WatchlistStore } from '../../matcher/watchlist.js';
import { startAuditWriter } from '../../audit/kafka.js';
import { startBroadcast } from '../../services/broadcast.js';
import { serveMetrics } from '../../services/http.js';
import { startInfer } from '../../services/infer.js';
import { startIngest } from '../../services/ingest.js';
import { startMatch } from '../../services/match.js';
import type { RunningService } from '../../services/service.js';
import { kafkaConfigOf } from '../../services/kafka-config.js';
import { publishWatchlist, watchlistEdits } from '../../services/watchlist.js';
import { exitAfter, firstSignal } from '../shutdown.js';


/** `--metrics [host:]port`: where /metrics and /healthz listen (a bare port: 127.0.0.1). */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: `--metrics ${v}: expected [host:]port` });
  return { host: m[1] ?? '127.0.0.1', port };
}

interface ServiceOpts {
  metrics?: string;
}

/** Runs a service until it ends by itself or a signal comes; one shutdown path with a deadline. */
async function run(cmd: Command, name: string, start: (cfg: Config, log: Logger) => Promise<RunningService>): Promise<void> {
  const { cfg, log: root } = setup(cmd);
  kafkaConfigOf(cfg, name);
  const log = root.child({ service: name });
  warnWithoutHeapFloor(log);
  const opts = cmd.opts<ServiceOpts>();
  const signal = firstSignal();
  const svc = await start(cfg, log);
  const listen = opts.metrics ? parseListen(opts.metrics) : cfg.metrics.port !== undefined ? { host: cfg.metrics.host, port: cfg.metrics.port } : undefined;
  if (listen) collectProcessMetrics();
  const http = listen ? await serveMetrics(listen.host, listen.port, () => ({ service: name, ...svc.health() }), cfg.metrics.token) : undefined;
  log.info({ ...svc.info, metrics: http ? `${listen!.host}:${http.port}` : undefined }, 'service ready');
  const why = await Promise.race([svc.done.then(() => 'done'), signal]);
  log.info({ reason: why }, 'service stopping');
  // A signal while stopping after the service ended by itself, or a stop that hangs, ends the process anyway.
  if (why === 'done') void signal.then(() => process.exit(130));
  const stopped = exitAfter(15_000);
  await svc.stop();
  await http?.close();
  stopped();
  log.info({ health: svc.health() }, 'service stopped');
  process.exitCode = svc.exitCode();
  // Kafka client timers may linger for a moment: leave once the log is written.
  root.flush(() => setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref());
}

const metricsOption = (): Option => new Option('--metrics <[host:]port>', 'serve /metrics (Prometheus) and /healthz on this address').env('VIGIL_METRICS');

export function register(program: Command): void {
  program
    .command('ingest')
    .description('distributed mode: read the configured cameras and publish their frames to Kafka (ends when every file camera has ended)')
    .option('--camera <id...>', 'only these cameras (several ingest processes can split the cameras)')
    .addOption(metricsOption())
    .action(async (o: ServiceOpts & { camera?: string[] }, cmd: Command) => run(cmd, 'ingest', (cfg, log) => startIngest(cfg, log, { cameras: o.camera })));

  program
    .command('infer')
    .description('distributed mode: detect and embed faces in the frames from Kafka (replicas share the cameras)')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .addOption(metricsOption())
    .action(async (o: ServiceOpts & { profile?: string }, cmd: Command) => run(cmd, 'infer', (cfg, log) => startInfer(cfg, log, { profile: o.profile })));

  program
    .command('match')
    .description('distributed mode: match faces against the watchlist topic and publish alerts (replicas are interchangeable)')
    .option('--profile <name>', 'model profile whose embeddings are matched (overrides models.profile; needs no model files)')
    .option('--replica <id>', 'replica name in logs (default: host-pid)')
    .addOption(metricsOption())
    .action(async (o: ServiceOpts & { profile?: string; replica?: string }, cmd: Command) =>
      run(cmd, 'match', (cfg, log) => startMatch(cfg, log, { profile: o.profile, replica: o.replica })),
    );

  program
    .command('broadcast')
    .description('distributed mode: push the alerts from Kafka to WebSocket clients (each event once)')
    .option('--port <n>', 'WebSocket port (overrides broadcast.port; 0: any free port)', (v) => Number(v))
    .option('--group <name>', 'consumer group: give every further broadcaster its own, so each sees every event', 'broadcast')
    .addOption(metricsOption())
    .action(async (o: ServiceOpts & { port?: number; group: string }, cmd: Command) => run(cmd, 'broadcast', (cfg, log) => startBroadcast(cfg, log, { port: o.port, group: o.group })));

  program
    .command('audit-writer')
    .description('distributed mode: the one writer of the audit topic (chains and signs the actions services send; a second one waits as a standby)')
    .addOption(metricsOption())
    .action(async (_o: ServiceOpts, cmd: Command) => run(cmd, 'audit-writer', (cfg, log) => startAuditWriter(cfg, log)));

  program
    .command('publish-watchlist')
    .description('distributed mode: publish every subject of the local watchlist to the Kafka watchlist topic')
    .action(async (_o: unknown, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const k = kafkaConfigOf(cfg, 'publish-watchlist');
      const store = await new WatchlistStore(cfg.dataDir).load();
      const edits = watchlistEdits(store);
      await publishWatchlist(cfg, log, edits);
      const n = (op: string): number => edits.filter((e) => e.op === op).length;
      process.stdout.write(`published ${n('upsert')} subject(s), ${n('list')} list(s) and the negative examples of ${n('negatives')} subject(s) to ${k.topicPrefix}watchlist\n`);
    });
}
