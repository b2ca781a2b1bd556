import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import { isVigilError, VigilError } from '../errors.js';
import { CameraSet } from '../ingest/cameras.js';
import { isLiveUrl } from '../ingest/ffmpeg.js';
import { CameraSource } from '../ingest/source.js';
import type { Logger } from '../log.js';
import { ingestMetrics } from '../metrics.js';
import { never, type RunningService } from './service.js';
import { kafkaConfigOf } from './kafka-config.js';

/**
 * `vigil ingest`: the configured cameras (or those named) to the frames topic, as JPEG plus headers
 * keyed by camera. Live cameras run as under `vigil start` (a supervisor each: reconnects, stall
 * watchdog, status on the status topic), and while the brokers are slow or away their oldest
 * waiting frames are dropped, as a live frame queue does. Files are read as `vigil replay` reads
 * them: every frame waits for the brokers' acknowledgement, nothing is dropped, and the service
 * ends when every camera was a file and all have ended.
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
  const files = cameras.filter((c) => !isLiveUrl(c.url));
  const bus = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }), policies: { frames: { capacity: cfg.queues.frames, overflow: 'drop-oldest' } } });
  await bus.start();

  const set = new CameraSet({ bus, log: log.child({ stage: 'ingest' }), metrics: ingestMetrics(), timing: cfg.ingest, decoderThreads: cfg.ingest.decoderThreads });
  if (live.length) await set.apply(live);

  const sources = files.map((camera) => new CameraSource({ camera, bus, log: log.child({ camera: camera.id }) }));
  const fileState: Record<string, string> = Object.fromEntries(files.map((c) => [c.id, 'running']));
  let failed = 0;
  const filesDone = Promise.all(
    sources.map(async (s, i) => {
      const id = files[i].id;
      try {
        const r = await s.run();
        fileState[id] = `ended: ${r.frames} frame(s)`;
      } catch (err) {
        failed++;
        fileState[id] = 'failed';
        log.error({ camera: id, code: isVigilError(err) ? err.code : undefined, err: (err as Error).message }, 'camera failed');
      }
    }),
  ).then(() => undefined);
  return {
    name: 'ingest',
    info: { cameras: cameras.map((c) => c.id), live: live.length, files: files.length, topic: `${k.topicPrefix}frames` },
    done: live.length ? never : filesDone,
    exitCode: () => (failed ? 1 : 0),
    health: () => ({
      cameras: { ...fileState, ...Object.fromEntries(set.statuses().map((s) => [s.camera, s.state])) },
      published: bus.stats().frames.published,
      dropped: bus.stats().frames.dropped,
    }),
    async stop() {
      for (const s of sources) s.stop();
      await set.stop();
      await filesDone;
      await bus.close();
    },
  };
}
