import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import { cameraSetOf } from '../ingest/cameras.js';
import { isLiveUrl } from '../ingest/input.js';
import type { Logger } from '../log.js';
import { never, type RunningService } from './service.js';
import { kafkaConfigOf } from './kafka-config.js';

/**
 * `vigil ingest`: the configured cameras (or those named) to the frames topic, as JPEG plus headers
 * keyed by camera. The same camera component as `vigil start` and `vigil replay`: streams run under
 * the live policy (reconnects, stall watchdog, status on the status topic; while the brokers are slow
 * or away their oldest waiting frames are dropped), files under the replay policy (every frame waits
 * for the brokers' acknowledgement, nothing is dropped, no restarts). The service ends when every
 * camera was a file and all have ended; it exits 1 if any failed.
 */
export async function startIngest(cfg: Config, log: Logger, o: { cameras?: readonly string[] } = {}): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'ingest');
  const wanted = o.cameras?.length ? new Set(o.cameras) : undefined;
  const unknown = [...(wanted ?? [])].filter((id) => !cfg.cameras.some((c) => c.id === id));
  if (unknown.length) {
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: `--camera ${unknown.join(', ')}: no such camera in the config (known: ${cfg.cameras.map((c) => c.id).join(', ') || 'none'})` });
  }
  const cameras = cfg.cameras.filter((c) => c.enabled && (!wanted || wanted.has(c.id)));
  if (cameras.length === 0) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: 'cameras: `vigil ingest` needs at least one enabled camera' });
  const live = cameras.filter((c) => isLiveUrl(c.url));
  const bus = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }), policies: { frames: { capacity: cfg.queues.frames, overflow: 'drop-oldest' } } });
  await bus.start();

  const set = cameraSetOf(cfg, bus, log, (c) => (isLiveUrl(c.url) ? 'live' : 'replay'));
  const results = set.run(cameras);
  let failed = 0;
  const done = results.then((rs) => {
    failed = rs.filter((r) => r.error).length;
  });
  return {
    name: 'ingest',
    info: { cameras: cameras.map((c) => c.id), live: live.length, files: cameras.length - live.length, topic: `${k.topicPrefix}frames` },
    done: live.length ? never : done,
    exitCode: () => (failed ? 1 : 0),
    health: () => ({
      cameras: Object.fromEntries(set.statuses().map((s) => [s.camera, s.error && s.state === 'ended' ? `failed: ${s.error.code}` : s.state])),
      published: bus.stats().frames.published,
      dropped: bus.stats().frames.dropped,
    }),
    async stop() {
      await set.stop();
      await done;
      await bus.close();
    },
  };
}
