import type { Config, KafkaConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';

/** The Kafka section, or an error naming the command that needs it. */
export function kafkaConfigOf(cfg: Config, command: string): KafkaConfig {
  const k = cfg.bus.kafka;
  if (!k) throw new VigilError('VIGIL_ERR_KAFKA_NOT_CONFIGURED', { command, reason: 'the config has no bus.kafka section and KAFKA_BROKERS is not set' });
  return k;
}
