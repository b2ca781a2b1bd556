import { Counter, Gauge } from 'prom-client';
import { registry } from '../metrics.js';

/**
 * Prometheus metrics of the Kafka bus, on Vigil's process-wide registry (src/metrics.ts: what a
 * service's /metrics serves). Made once per process: several buses in one process share them by label.
 */
function once<M>(name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}
const registers = [registry];

export const kafkaMetrics = {
  lag: once(
    'vigil_kafka_consumer_lag',
    () => new Gauge({ name: 'vigil_kafka_consumer_lag', help: 'messages on the topic not yet handled by the consumer group (sum over partitions)', labelNames: ['group', 'topic'] as const, registers }),
  ),
  published: once(
    'vigil_kafka_published_total',
    () => new Counter({ name: 'vigil_kafka_published_total', help: 'messages published and acknowledged', labelNames: ['topic'] as const, registers }),
  ),
  publishRetries: once(
    'vigil_kafka_publish_retries_total',
    () => new Counter({ name: 'vigil_kafka_publish_retries_total', help: 'publish attempts that failed and were retried (broker unreachable)', labelNames: ['topic'] as const, registers }),
  ),
  consumed: once(
    'vigil_kafka_consumed_total',
    () => new Counter({ name: 'vigil_kafka_consumed_total', help: 'messages handled by a consumer group', labelNames: ['group', 'topic'] as const, registers }),
  ),
  deadLettered: once(
    'vigil_kafka_dead_lettered_total',
    () => new Counter({ name: 'vigil_kafka_dead_lettered_total', help: 'messages sent to the dead-letter topic (undecodable, or the handler kept failing)', labelNames: ['group', 'topic'] as const, registers }),
  ),
};
