import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Publisher, type RtspServer, startRtspCamera, stopRtspCamera } from '../support/rtsp-lab.js';
import { hamiltonClip, repoRoot } from '../helpers.js';
import { dataDirWithModels } from './cli.js';

/**
 * `vigil start -c FILE` with an RTSP camera on a real server: camera status reaches WebSocket clients
 * and /metrics, and editing FILE adds a camera without restarting the running one, while a broken
 * edit is refused and changes nothing. The password comes from the environment and never shows.
 */
const PASS = 'Env#Pa55@word';
let server: RtspServer;
let pub: Publisher;

beforeAll(async () => void ({ server, pub } = await startRtspCamera({ reader: { user: 'viewer', pass: PASS }, path: 'door', file: hamiltonClip() })), 15 * 60_000);

afterAll(() => stopRtspCamera(server, pub));

interface Status {
  kind: string;
  camera: string;
  state: string;
  url: string;
}

describe('vigil start with RTSP cameras', () => {
  it('forwards camera status to clients and metrics, and follows camera edits in the config file', async () => {
    const dataDir = await dataDirWithModels();
    const cfgFile = join(dataDir, 'vigil.yaml');
    const cam = (id: string, extra = '') => `  - { id: ${id}, url: "rtsp://viewer:{VIGIL_TEST_CAM_PASSWORD}@127.0.0.1:${server.port}/door", fps: 2, maxWidth: 320${extra} }\n`;
    const head = 'broadcast: { port: 0 }\ningest: { stallTimeoutMs: 3000, openTimeoutMs: 6000, backoffInitialMs: 250, backoffMaxMs: 2000 }\ncameras:\n';
    await writeFile(cfgFile, head + cam('door'));
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', cfgFile, 'start'], {
      cwd: repoRoot,
      env: { ...process.env, VIGIL_DATA_DIR: dataDir, VIGIL_LOG_LEVEL: 'info', VIGIL_TEST_CAM_PASSWORD: PASS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const statuses: Status[] = [];
    let ws: WebSocket | undefined;
    let base = '';
    p.stdout.resume();
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const url = /Connect a monitor:\s+ws:\/\/([\d.]+):(\d+)\//.exec(stderr);
      const token = /token \(generated now[^)]*\): (\S+)/.exec(stderr);
      if (url && token && !ws) {
        base = `${url[1]}:${url[2]}`;
        ws = new WebSocket(`ws://${base}/?token=${token[1]}`);
        ws.on('message', (m) => {
          const e = JSON.parse(m.toString()) as Status;
          if (e.kind === 'camera-status') statuses.push(e);
        });
      }
    });
    const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
      const t0 = Date.now();
      while (!pred()) {
        if (Date.now() - t0 > ms || p.exitCode !== null) throw new Error(`waiting for ${what}: ${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const states = (id: string) => statuses.filter((s) => s.camera === id).map((s) => s.state);
    try {
      await until(() => states('door').includes('live'), 60_000, 'door live on the WebSocket');
      expect(statuses[0]!.url).toBe(`rtsp://viewer:***@127.0.0.1:${server.port}/door`);
      const metrics = await (await fetch(`http://${base}/metrics`)).text();
      expect(metrics).toMatch(/vigil_camera_up\{camera="door"\} 1/);
      expect(metrics).toMatch(/vigil_camera_state\{camera="door",state="live"\} 1/);
      // A monitor that connects later is told each camera's current state right after hello.
      const token = /token \(generated now[^)]*\): (\S+)/.exec(stderr)![1];
      const late = new WebSocket(`ws://${base}/?token=${token}`);
      const greeting = await new Promise<{ kind: string; camera?: string; state?: string }[]>((resolve, reject) => {
        const got: { kind: string }[] = [];
        late.on('message', (m) => {
          got.push(JSON.parse(m.toString()) as { kind: string });
          if (got.length === 2) resolve(got);
        });
        late.on('error', reject);
      });
      late.close();
      expect(greeting).toMatchObject([{ kind: 'hello' }, { kind: 'camera-status', camera: 'door', state: 'live' }]);

      // An invalid edit is refused; the running camera is untouched.
      await writeFile(cfgFile, head + cam('door').replace('fps: 2', 'fps: fast'));
      await until(() => stderr.includes('config change ignored'), 10_000, 'the invalid edit to be refused');
      // Add a camera: it starts; door keeps its one connection.
      await writeFile(cfgFile, head + cam('door') + cam('yard'));
      await until(() => states('yard').includes('live'), 20_000, 'yard live after the edit');
      expect(states('door')).toEqual(['connecting', 'live']);
      expect(stderr).toContain('config reloaded: cameras updated');
    } finally {
      ws?.close();
      p.kill('SIGTERM');
    }
    if (process.env.VIGIL_TEST_DUMP) await writeFile(process.env.VIGIL_TEST_DUMP, stderr);
    const code = await new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));
    expect(code).toBe(0);
    for (const blob of [stderr, JSON.stringify(statuses)]) {
      expect(blob).not.toContain(PASS);
      expect(blob).not.toContain(encodeURIComponent(PASS));
    }
  }, 120_000);
});
