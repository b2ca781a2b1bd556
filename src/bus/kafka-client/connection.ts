import kafkajs, { type LogEntry } from 'kafkajs';
import type { Logger } from '../../log.js';
import { kafkajsSecurity } from './security.js';
import type { KafkaConnection } from './types.js';

// kafkajs is CommonJS: Node's ESM loader cannot see all of its named exports.
export const { ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
export type Kafka = InstanceType<typeof Kafka>;

/** Makes kafkajs clients for one connection's settings, each with its own retry budget. */
export type KafkaFactory = (retries: number) => Kafka;

/** kafkajs logs through the process's pino logger, a level lower: our own code reports what matters. */
function logCreator(log: Logger) {
  return () =>
    ({ namespace, level, log: entry }: LogEntry): void => {
      const { message, timestamp: _t, ...extra } = entry;
      const obj = { lib: 'kafkajs', ns: namespace, ...extra };
      if (level === logLevel.ERROR || level === logLevel.WARN) log.warn(obj, message);
      else if (level === logLevel.INFO) log.debug(obj, message);
      else log.trace(obj, message);
    };
}

/** Reads the TLS files once (VIGIL_ERR_KAFKA_TLS when one cannot be read). */
export function kafkaFactory(c: KafkaConnection): KafkaFactory {
  const security = kafkajsSecurity(c.brokers, c.security);
  return (retries) =>
    new Kafka({
      brokers: [...c.brokers],
      clientId: c.clientId,
      ...security,
      connectionTimeout: 3000,
      requestTimeout: 30_000,
      retry: { retries, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: logLevel.WARN,
      logCreator: logCreator(c.log),
    });
}
