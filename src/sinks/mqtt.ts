import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { MqttSinkConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { redactSecrets, safeUrl } from '../util/redact.js';
import type { Sink } from './dispatcher.js';
import type { AlertPayload, SinkPayload } from './payload.js';

/** One topic level from an id: MQTT wildcards and the level separator are percent-encoded. */
export function topicLevel(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, (c) => encodeURIComponent(c).replace(/[!'()*]/g, (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`));
}

/** Home Assistant object ids take letters, digits and "_" only. */
const haId = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

export interface MqttTopics {
  readonly bridge: string;
  match(camera: string): string;
  subject(id: string): string;
  availability(camera: string): string;
  lastPerson(camera: string): string;
  discovery(camera: string): string | null;
}

export function mqttTopics(cfg: Pick<MqttSinkConfig, 'topicPrefix' | 'discoveryPrefix'>): MqttTopics {
  const p = cfg.topicPrefix.replace(/\/+$/, '');
  return {
    bridge: `${p}/availability`,
    match: (c) => `${p}/${topicLevel(c)}/match`,
    subject: (id) => `${p}/subject/${topicLevel(id)}`,
    availability: (c) => `${p}/${topicLevel(c)}/availability`,
    lastPerson: (c) => `${p}/${topicLevel(c)}/last_person`,
    discovery: (c) => (cfg.discoveryPrefix ? `${cfg.discoveryPrefix.replace(/\/+$/, '')}/sensor/vigil_${haId(c)}_last_person/config` : null),
  };
}

/** Home Assistant MQTT discovery: a "Last person seen" sensor per camera, available while Vigil and the camera are. */
export function discoveryConfig(t: MqttTopics, camera: string): Record<string, unknown> {
  const id = `vigil_${haId(camera)}`;
  return {
    name: 'Last person seen',
    unique_id: `${id}_last_person`,
    object_id: `${id}_last_person`,
    state_topic: t.lastPerson(camera),
    value_template: '{{ value_json.name }}',
    json_attributes_topic: t.lastPerson(camera),
    availability: [{ topic: t.bridge }, { topic: t.availability(camera) }],
    availability_mode: 'all',
    icon: 'mdi:face-recognition',
    device: { identifiers: [id], name: `Vigil ${camera}`, manufacturer: 'Vigil', model: 'camera' },
  };
}

/** The retained "last person seen" state of a camera: the sensor's value is `name`, the rest are its attributes. */
export function lastPerson(p: AlertPayload): Record<string, unknown> {
  return { name: p.subject.name, subject_id: p.subject.id, alert_id: p.id, similarity: p.similarity, at: p.alertAt, url: p.url, lists: p.lists };
}

interface Message {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/**
 * MQTT sink (mqtt.js): every message QoS 1, so a delivery resolves only on the broker's PUBACK.
 * Alerts go to <prefix>/<camera>/match and <prefix>/subject/<id>, and update the camera's retained
 * <prefix>/<camera>/last_person; camera status sets the retained <prefix>/<camera>/availability
 * (online while live). The connection's own retained <prefix>/availability is "online", and
 * "offline" by last will when Vigil goes away. Each camera's discovery config is published
 * (retained) once per connection before its first message.
 */
export class MqttSink implements Sink {
  readonly type = 'mqtt' as const;
  readonly id: string;
  readonly topics: MqttTopics;
  readonly #cfg: MqttSinkConfig;
  readonly #client: MqttClient;
  readonly #announced = new Set<string>();

  constructor(cfg: MqttSinkConfig, log: Logger) {
    this.id = cfg.id;
    this.#cfg = cfg;
    this.topics = mqttTopics(cfg);
    const target = safeUrl(cfg.url);
    this.#client = mqtt.connect(cfg.url, {
      clientId: cfg.clientId ?? `vigil-${cfg.id}`,
      username: cfg.username,
      password: cfg.password,
      reconnectPeriod: 1000,
      connectTimeout: cfg.timeoutMs,
      will: { topic: this.topics.bridge, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.#client.on('connect', () => {
      this.#announced.clear();
      log.info({ sink: cfg.id, broker: target }, 'mqtt sink connected');
      this.#client.publish(this.topics.bridge, 'online', { qos: 1, retain: true });
    });
    this.#client.on('offline', () => log.warn({ sink: cfg.id, broker: target }, 'mqtt sink: broker unreachable; retrying'));
    this.#client.on('error', (err) => log.warn({ sink: cfg.id, broker: target, err: redactSecrets(err.message, cfg.url) }, 'mqtt sink error'));
  }

  async deliver(p: SinkPayload): Promise<void> {
    if (!this.#client.connected) throw new Error(`mqtt ${safeUrl(this.#cfg.url)}: not connected`);
    const msgs: Message[] = [];
    const cam = p.camera;
    const disc = this.topics.discovery(cam);
    if (disc && !this.#announced.has(cam)) msgs.push({ topic: disc, payload: JSON.stringify(discoveryConfig(this.topics, cam)), retain: true });
    if (p.kind === 'vigil.alert') {
      const json = JSON.stringify(p);
      msgs.push({ topic: this.topics.match(cam), payload: json, retain: false });
      msgs.push({ topic: this.topics.subject(p.subject.id), payload: json, retain: false });
      msgs.push({ topic: this.topics.lastPerson(cam), payload: JSON.stringify(lastPerson(p)), retain: true });
    } else {
      msgs.push({ topic: this.topics.availability(cam), payload: p.state === 'live' ? 'online' : 'offline', retain: true });
    }
    await Promise.all(msgs.map((m) => this.#publish(m)));
    if (disc) this.#announced.add(cam);
  }

  #publish(m: Message): Promise<void> {
    const opts: IClientPublishOptions = { qos: 1, retain: m.retain };
    const publish = this.#client.publishAsync(m.topic, m.payload, opts).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`mqtt: no PUBACK within ${this.#cfg.timeoutMs} ms`)), this.#cfg.timeoutMs);
    });
    return Promise.race([publish, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    // A clean stop: say "offline" ourselves (the will is only sent when the connection breaks).
    if (this.#client.connected) await this.#publish({ topic: this.topics.bridge, payload: 'offline', retain: true }).catch(() => undefined);
    await this.#client.endAsync();
  }
}
