import { AdminOps } from './kafka-client/admin.js';
import { kafkaFactory } from './kafka-client/connection.js';
import { KafkajsGroupConsumer } from './kafka-client/consumer.js';
import { closedError, securityError } from './kafka-client/security.js';
import { KafkajsTransactionalSender, ProducerSender } from './kafka-client/sender.js';
import type { KafkaClient, KafkaConnection } from './kafka-client/types.js';

export type * from './kafka-client/types.js';
export type { KafkaSecurity } from './kafka-client/security.js';

/**
 * The Kafka client behind the bus. Only the modules in ./kafka-client/ import kafkajs: everything
 * else speaks the small interfaces in ./kafka-client/types.ts, so the client library can be swapped
 * (e.g. for a librdkafka binding) by rewriting that folder alone. Each producer, consumer and admin
 * gets a kafkajs client of its own, so one that broke (a broker that went away) is dropped and made
 * anew without touching the others.
 *
 *   connection.ts  kafkajs settings from the connection (brokers, timeouts, logging, TLS, SASL)
 *   security.ts    TLS files and SASL options; failures retrying cannot fix, named
 *   lazy.ts        a connection made on first use, dropped after a failure
 *   admin.ts       topics and offsets
 *   sender.ts      the producer (acks=all), and a transactional one (fenced by a newer holder of its id)
 *   consumer.ts    a consumer group member with manual commits
 */
export function createKafkaClient(c: KafkaConnection): KafkaClient {
  const kafka = kafkaFactory(c);
  const admin = new AdminOps(kafka);
  /** What close() disconnects: every sender and consumer not closed by its owner yet. */
  const open = new Set<{ disconnect(): Promise<void> }>();
  return {
    ensureTopics: (specs) => admin.ensureTopics(specs),
    describeTopic: (topic) => admin.describeTopic(topic),
    topicOffsets: (topic) => admin.topicOffsets(topic),
    offsetsAt: (topic, timestamp) => admin.offsetsAt(topic, timestamp),
    committed: (groupId, topic) => admin.committed(groupId, topic),
    sender() {
      const s: ProducerSender = new ProducerSender(kafka, () => open.delete(s));
      open.add(s);
      return s;
    },
    transactionalSender(id) {
      const s: KafkajsTransactionalSender = new KafkajsTransactionalSender(kafka, id, () => open.delete(s));
      open.add(s);
      return s;
    },
    consumer(o) {
      const x: KafkajsGroupConsumer = new KafkajsGroupConsumer(kafka, o, () => open.delete(x));
      open.add(x);
      return x;
    },
    diagnose: (err) => securityError(err, c.brokers, c.security),
    closedError: (attempts) => closedError(c.brokers, c.security, attempts),
    async close() {
      await Promise.all([...open].map((x) => x.disconnect()));
      open.clear();
      await admin.close();
    },
  };
}
