import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { sinkMetrics } from '../../src/metrics.js';
import { SinkService } from '../../src/sinks/service.js';
import type { SqliteEventStore } from '../../src/store/events.js';
import { repoRoot, tempDir } from '../helpers.js';
import { cameraStatus, matchEvent, Mosquitto, openEventStore, until } from '../sinks.js';

const log = createLogger('silent');

interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** A subscriber with a persistent session (clean: false): the broker queues its QoS 1 messages while it is away. */
function subscriber(url: string, clientId: string, clean: boolean, topics: string[]): Promise<{ c: MqttClient; got: Got[] }> {
  const got: Got[] = [];
  const c = mqtt.connect(url, { clientId, clean, reconnectPeriod: 200 });
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  return new Promise((resolve, reject) => {
    c.once('connect', () => c.subscribe(topics, { qos: 1 }, (err) => (err ? reject(err) : resolve({ c, got }))));
    c.once('error', reject);
  });
}

describe('MQTT sink (real mosquitto)', () => {
  let dir: string;
  let broker: Mosquitto;
  let store: SqliteEventStore;
  let svc: SinkService;
  let sub: { c: MqttClient; got: Got[] };

  beforeAll(async () => {
    dir = await tempDir('vigil-mqtt-');
    broker = await Mosquitto.start(dir);
    store = openEventStore(dir);
    sub = await subscriber(broker.url, 'ha-test', false, ['vigil/#', 'homeassistant/#']);
    const cfg = parseConfig({
      dataDir: dir,
      broadcast: { publicUrl: 'http://console.local:8765' },
      sinks: [{ type: 'mqtt', id: 'ha', url: broker.url, retry: { initialBackoffMs: 50, maxBackoffMs: 300, maxAttempts: 1000 }, timeoutMs: 1000 }],
    });
    svc = new SinkService({ cfg, store, log, metrics: sinkMetrics(new Registry()), pollMs: 20 });
    await svc.start();
    store.subscribe(() => svc.notify());
  });
  afterAll(async () => {
    sub?.c.end(true);
    await svc?.stop();
    await store?.close();
    await broker?.stop();
  });

  const matches = () => sub.got.filter((g) => g.topic === 'vigil/door/match');

  it('publishes alerts per camera and subject (QoS 1), retained availability and Home Assistant discovery', async () => {
    await store.append(cameraStatus('door', 'live'));
    for (let i = 0; i < 5; i++) await store.append(matchEvent(i));
    await until(() => matches().length === 5, 15_000, '5 alerts on vigil/door/match');
    expect(matches().every((g) => g.qos === 1)).toBe(true);
    const first = JSON.parse(matches()[0]!.payload) as { id: string; provenance: { fpir: number }; url: string };
    expect(first.id).toBe('door:0:s0');
    expect(first.provenance.fpir).toBe(0.01);
    expect(first.url).toBe('http://console.local:8765/#/events/door%3A0%3As0');
    expect(sub.got.filter((g) => g.topic === 'vigil/subject/s1').length).toBe(2);
    // A client arriving later (Home Assistant starting) gets the retained state at once.
    const late = await subscriber(broker.url, 'late', true, ['vigil/#', 'homeassistant/#']);
    await until(() => late.got.some((g) => g.topic === 'vigil/door/last_person'), 5000, 'retained messages');
    const retained = new Map(late.got.filter((g) => g.retain).map((g) => [g.topic, g.payload]));
    late.c.end(true);
    expect(retained.get('vigil/availability')).toBe('online');
    expect(retained.get('vigil/door/availability')).toBe('online');
    expect(JSON.parse(retained.get('vigil/door/last_person')!)).toMatchObject({ name: 'Subject 1', subject_id: 's1', alert_id: 'door:4:s1' });
    const disc = JSON.parse(retained.get('homeassistant/sensor/vigil_door_last_person/config')!) as Record<string, unknown>;
    expect(disc).toMatchObject({ unique_id: 'vigil_door_last_person', state_topic: 'vigil/door/last_person', value_template: '{{ value_json.name }}' });
  });

  it('loses no alert across a broker restart: stopped, alerts happen, started again', async () => {
    await broker.stop();
    for (let i = 5; i < 15; i++) await store.append(matchEvent(i));
    await store.append(cameraStatus('door', 'stalled'));
    await new Promise((r) => setTimeout(r, 500)); // the sink tries, fails, backs off
    await broker.run();
    const ids = new Set<string>();
    await until(() => {
      for (const g of matches()) ids.add((JSON.parse(g.payload) as { id: string }).id);
      return ids.size >= 15;
    }, 30_000, 'all 15 alerts after the restart');
    // At least once: a publish whose PUBACK was lost in the restart comes again (receivers drop it by id and revision).
    process.stderr.write(`mqtt broker restart: ${ids.size} distinct alerts, ${matches().length - ids.size} duplicate(s)\n`);
    expect([...ids].sort()).toEqual(Array.from({ length: 15 }, (_, i) => `door:${i}:s${i % 3}`).sort());
    await until(() => sub.got.some((g) => g.topic === 'vigil/door/availability' && g.payload === 'offline'), 5000, 'camera offline');
  });

  it('a clean stop marks Vigil offline (retained)', async () => {
    await svc.stop();
    await until(() => sub.got.some((g) => g.topic === 'vigil/availability' && g.payload === 'offline'), 5000, 'vigil offline');
  });

  it('the broker\'s last will marks Vigil offline when its process dies (kill -9 of `vigil sinks`)', async () => {
    const configFile = join(dir, 'vigil.yaml');
    await writeFile(configFile, stringify({ dataDir: dir, sinks: [{ type: 'mqtt', id: 'ha', url: broker.url, clientId: 'vigil-lwt-test' }] }));
    const watch = await subscriber(broker.url, 'lwt-watch', true, ['vigil/availability']);
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', configFile, 'sinks'], { cwd: repoRoot, env: { ...process.env, VIGIL_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
    try {
      await until(() => watch.got.at(-1)?.payload === 'online', 60_000, 'vigil online');
      child.kill('SIGKILL');
      await until(() => watch.got.at(-1)?.payload === 'offline', 10_000, 'the last will');
    } finally {
      child.kill('SIGKILL');
      watch.c.end(true);
    }
  });
});
