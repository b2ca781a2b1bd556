import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { enroll } from '../../src/matcher/enroll.js';
import { collectProcessMetrics } from '../../src/metrics.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { faces, hamiltonClip, repoRoot } from '../helpers.js';
import { startReceiver, until, type Receiver } from '../sinks.js';
import { dataDirWithModels } from './cli.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const SECRET = 'webhook-secret-0123456789';

function run(cmd: string, args: string[], stdin?: string, cwd = repoRoot): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(stdin ?? '');
  });
}

let runtime: Runtime;
let pipeline: Pipeline;
let receiver: Receiver;
let text: string;

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  const cfg = parseConfig(
    {
      dataDir: await dataDirWithModels(),
      models: { profile: 'research' },
      broadcast: { port: 0 },
      metrics: { port: 0, token: '{VIGIL_METRICS_TOKEN}' },
      sinks: [{ type: 'webhook', id: 'hook', url: receiver.url, secret: '{VIGIL_HOOK_SECRET}' }],
    },
    { VIGIL_METRICS_TOKEN: METRICS_TOKEN, VIGIL_HOOK_SECRET: SECRET },
  );
  const log = createLogger('silent');
  runtime = await openRuntime(cfg, log, { fetch: false });
  const s = await enroll(runtime.engine, runtime.store, { name: 'Lin-Manuel Miranda', files: [faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')] });
  runtime.index.upsert(s);
  pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastToken: 'ws-token-0123456789abcdef' });
  await pipeline.start();
  collectProcessMetrics();
  await pipeline.cameras.run([cameraSchema.parse({ id: 'stage', url: hamiltonClip(), realtime: false })]);
  await pipeline.drain();
  await until(() => receiver.unique.size > 0, 15_000, 'the webhook to get the alert');
  const res = await fetch(`http://127.0.0.1:${pipeline.ops!.port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  text = await res.text();
});

afterAll(async () => {
  await pipeline?.stop();
  await runtime?.close();
  await receiver?.close();
});

const count = (name: string): number =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_count`))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);

describe('metrics of a running pipeline', () => {
  it('times every stage (histograms with observations) and serves them on metrics.port only with the token', async () => {
    for (const h of ['vigil_frame_to_alert_seconds', 'vigil_inference_batch_seconds', 'vigil_inference_batch_frames', 'vigil_detect_seconds', 'vigil_embed_seconds', 'vigil_matcher_search_seconds', 'vigil_event_store_write_seconds', 'vigil_ws_delivery_delay_seconds', 'vigil_sink_delivery_delay_seconds']) {
      expect(count(h), h).toBeGreaterThan(0);
    }
    const mean = (h: string) => (Number(/^\S+_sum(?:\{[^}]*\})? (\S+)$/m.exec(text.split('\n').filter((l) => l.startsWith(`${h}_sum`)).join('\n'))?.[1]) / count(h)).toFixed(4);
    process.stderr.write(`metrics (mean s): ${['vigil_detect_seconds', 'vigil_embed_seconds', 'vigil_inference_batch_seconds', 'vigil_matcher_search_seconds', 'vigil_event_store_write_seconds', 'vigil_sink_delivery_delay_seconds'].map((h) => `${h}=${mean(h)} (n=${count(h)})`).join(', ')}\n`);
    // One per detected frame of the 50-frame clip: a frame where nothing moved is not detected (the schedule).
    const t = pipeline.inference.timing;
    expect(t.fullDetections + t.regionDetections + t.skippedFrames).toBe(50);
    expect(count('vigil_detect_seconds')).toBe(50 - t.skippedFrames);
    expect(text).toMatch(/^vigil_queue_capacity\{topic="frames"\} 8$/m);
    expect(text).toMatch(/^vigil_sink_deliveries_total\{sink="hook",outcome="ok"\} [1-9]/m);
    expect(text).not.toMatch(/Lin-Manuel|lin_manuel/); // bounded labels: never a subject
    expect((await fetch(`http://127.0.0.1:${pipeline.ops!.port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${pipeline.broadcast!.port}/metrics`)).status).toBe(404);
  });

  it('passes `promtool check metrics`', async () => {
    const r = await run('promtool', ['check', 'metrics'], text);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('the alerting rules pass `promtool check rules` and their unit tests; the dashboard queries only metrics Vigil serves', async () => {
    const check = await run('promtool', ['check', 'rules', 'prometheus-rules.yml'], undefined, join(repoRoot, 'docs'));
    expect(check.out).toContain('SUCCESS: 5 rules found');
    expect(check.code).toBe(0);
    const unit = await run('promtool', ['test', 'rules', 'prometheus-rules.test.yml'], undefined, join(repoRoot, 'docs'));
    expect(unit.out).toContain('SUCCESS');
    expect(unit.code).toBe(0);
    const served = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!));
    const dash = JSON.parse(readFileSync(join(repoRoot, 'docs', 'grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const distributedOnly = new Set(['vigil_kafka_consumer_lag']);
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/vigil_[a-z0-9_]+/g) ?? [])));
    for (const m of used) if (!distributedOnly.has(m)) expect(served.has(m.replace(/_(bucket|sum|count)$/, '')), `dashboard metric ${m}`).toBe(true);
  });
});
