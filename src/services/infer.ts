import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { openEngine } from '../runtime.js';
import { never, startOnBus, type RunningService } from './service.js';
import { inferenceStage } from '../stages.js';
import { kafkaConfigOf } from './kafka-config.js';

/**
 * `vigil infer`: frames topic in, faces topic out, with the embedded mode's InferenceStage. Replicas
 * share the work through one consumer group: each camera's frames stay on one partition, so one
 * replica at a time handles a camera, in order. Input offsets are committed once the faces are acked.
 */
export async function startInfer(cfg: Config, log: Logger, o: { profile?: string } = {}): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'infer');
  const engine = await openEngine(cfg, log, { profile: o.profile, fetch: true });
  const bus = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }) });
  const stage = inferenceStage(cfg, bus, engine, log);
  await startOnBus(bus, stage, async () => {
    await bus.close();
    await engine.close();
  });
  return {
    name: 'infer',
    info: { profile: engine.profile.name, model: engine.model, partitions: k.partitions },
    done: never,
    exitCode: () => 0,
    health: () => ({ frames: stage.frames, faces: stage.faces }),
    async stop() {
      await stage.stop();
      await bus.close();
      await engine.close();
    },
  };
}
