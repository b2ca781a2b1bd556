import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Publisher, type RtspServer, startRtspCamera, stopRtspCamera } from '../support/rtsp-lab.js';
import { freePort } from '../support/net.js';
import { hamiltonClip, repoRoot, tempDir, testModelsDir } from '../helpers.js';
import { dataDirWithModels } from './cli.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { Mosquitto } from '../sinks.js';

const PASS = 'D00r#Pa55@word';
let server: RtspServer;
let pub: Publisher;

beforeAll(async () => {
  ({ server, pub } = await startRtspCamera({ file: hamiltonClip(), path: 'door', reader: { user: 'viewer', pass: PASS } }));
});

afterAll(() => stopRtspCamera(server, pub));

/** Runs `vigil doctor` as a child process (optionally as another user), with a config written to a world-readable folder. */
async function doctor(config: Record<string, unknown>, o: { env?: Record<string, string>; args?: string[]; uid?: number } = {}): Promise<{ code: number | null; out: string }> {
  const dir = await tempDir('vigil-doctor-cfg-');
  await chmod(dir, 0o755);
  const file = join(dir, 'vigil.yaml');
  await writeFile(file, stringify(config), { mode: 0o644 });
  const argv = [join(repoRoot, 'bin', 'vigil.js'), '-c', file, 'doctor', '--timeout', '8', '--capacity-seconds', '0', ...(o.args ?? [])];
  const [cmd, args] = o.uid === undefined ? [process.execPath, argv] : ['setpriv', [`--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', process.execPath, ...argv]];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, VIGIL_LOG_LEVEL: 'error', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
}

const camera = (pass: string) => ({ id: 'door', url: `rtsp://viewer:{VIGIL_DOOR_PASS}@127.0.0.1:${server.port}/door`, fps: 0.5, env: { VIGIL_DOOR_PASS: pass } }); // the raw password: Vigil percent-encodes placeholders inside URLs

describe('vigil doctor', () => {
  it('passes a healthy setup (ffmpeg, models, data dir, RTSP camera with credentials, ports, capacity) and exits 0', async () => {
    const dataDir = await dataDirWithModels();
    const { env, ...cam } = camera(PASS);
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: await freePort() }, cameras: [cam] }, { env, args: ['--capacity-seconds', '1'] });
    process.stderr.write(`doctor (healthy):\n${r.out}`);
    expect(r.out).toMatch(/^ok {6}ffmpeg: ffmpeg \d/m);
    expect(r.out).toMatch(/^ok {6}models: profile "research": \d model files present, sha256 verified/m);
    expect(r.out).toMatch(/^ok {6}data dir: .*0700, writable/m);
    expect(r.out).toMatch(/^ok {6}camera door: rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/door: decoded a frame/m);
    expect(r.out).toMatch(/^ok {6}port: broadcast .* is free/m);
    expect(r.out).toMatch(/^(ok|warn) {3,4}\s*capacity: load 0.5 frame\/s/m);
    expect(r.out).not.toContain('PROBLEM');
    expect(r.out).not.toContain(PASS);
    expect(r.out).not.toContain(encodeURIComponent(PASS));
    expect(r.code).toBe(0);
  });

  it('a missing model: names the file and the pull command, exits non-zero', async () => {
    const dataDir = await tempDir('vigil-doctor-');
    await mkdir(join(dataDir, 'models'), { mode: 0o700 });
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: 0 } });
    expect(r.out).toMatch(/^PROBLEM models: .*research.*(missing|not installed)/m);
    expect(r.out).toMatch(/fix: .*vigil models pull research/);
    expect(r.out).toContain('VIGIL_ERR_DOCTOR_PROBLEMS');
    expect(r.code).not.toBe(0);
  });

  it('a corrupt model file: names it, its checksum and the forced pull, exits non-zero', async () => {
    const dataDir = await tempDir('vigil-doctor-');
    const models = join(dataDir, 'models');
    await mkdir(models, { mode: 0o700 });
    for (const f of await readdir(testModelsDir())) if (f.endsWith('.onnx')) await symlink(join(testModelsDir(), f), join(models, f));
    await rm(join(models, 'w600k_mbf_fp32.onnx'));
    const bytes = await readFile(join(testModelsDir(), 'w600k_mbf_fp32.onnx'));
    bytes[bytes.length >> 1]! ^= 0xff; // one byte flipped: same size, different sha256
    await writeFile(join(models, 'w600k_mbf_fp32.onnx'), bytes);
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: 0 } });
    expect(r.out).toMatch(/^PROBLEM models: profile "research": .*w600k_mbf_fp32\.onnx has sha256 [0-9a-f]{12}…, the manifest expects [0-9a-f]{12}…/m);
    expect(r.out).toMatch(/fix: .*vigil models pull research --force/);
    expect(r.code).not.toBe(0);
  });

  it('a bad camera password: says the credentials were refused, with the URL redacted, exits non-zero', async () => {
    const dataDir = await dataDirWithModels();
    const { env, ...cam } = camera('wrong-password-9');
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: 0 }, cameras: [cam] }, { env });
    expect(r.out).toMatch(/^PROBLEM camera door: .*rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/door refused the credentials/m);
    expect(r.out).toMatch(/fix: check the user and password in the camera URL/);
    expect(r.out).not.toContain('wrong-password-9');
    expect(r.code).not.toBe(0);
  });

  it('an unreachable Kafka broker (distributed mode): names the brokers and the fix, exits non-zero', async () => {
    const dataDir = await dataDirWithModels();
    const port = await freePort();
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: 0 }, bus: { kafka: { brokers: [`127.0.0.1:${port}`] } } }, { args: ['--timeout', '4'] });
    expect(r.out).toMatch(new RegExp(`^PROBLEM kafka: brokers 127\\.0\\.0\\.1:${port} unreachable`, 'm'));
    expect(r.out).toMatch(/fix: start the brokers or fix bus\.kafka\.brokers/);
    expect(r.code).not.toBe(0);
  });

  it('a port in use: names the address, the key and how to find the process, exits non-zero', async () => {
    const dataDir = await dataDirWithModels();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port } });
      expect(r.out).toMatch(new RegExp(`^PROBLEM port: broadcast .* 127\\.0\\.0\\.1:${port} is in use by another process`, 'm'));
      expect(r.out).toMatch(new RegExp(`fix: stop that process .*sport = :${port}.* or change broadcast\\.port`));
      expect(r.code).not.toBe(0);
    } finally {
      busy.close();
    }
  });

  it('distributed mode and sinks: a live Kafka broker and mosquitto pass; an unreachable webhook is a problem', async () => {
    const dataDir = await dataDirWithModels();
    const brokers = await sharedBrokers();
    const mq = await Mosquitto.start(await tempDir('vigil-doctor-mqtt-'));
    try {
      const r = await doctor(
        {
          dataDir,
          models: { profile: 'research' },
          broadcast: { port: 0 },
          bus: { kafka: { brokers: brokers.split(','), topicPrefix: uniquePrefix('doctor') } },
          sinks: [
            { type: 'mqtt', id: 'ha', url: mq.url },
            { type: 'webhook', id: 'vms', url: `http://127.0.0.1:${await freePort()}/hook`, secret: 'webhook-secret-0123456789' },
          ],
        },
        { args: ['--timeout', '20'] },
      );
      expect(r.out).toMatch(/^ok {6}kafka: brokers .* answer/m);
      expect(r.out).toMatch(/^warn {4}kafka: topics not created yet: .*frames/m);
      expect(r.out).toMatch(/^ok {6}sink ha: MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ accepts Vigil's login/m);
      expect(r.out).toMatch(/^PROBLEM sink vms: webhook http:\/\/127\.0\.0\.1:\d+\/hook unreachable \(ECONNREFUSED\)/m);
      expect(r.code).not.toBe(0);
    } finally {
      await mq.stop();
    }
  });

  it('an unwritable data dir (and one other users can read): says so with the chmod/chown fix, exits non-zero', async () => {
    const dataDir = await dataDirWithModels();
    const root = process.getuid?.() === 0;
    // As root every directory is writable: run the doctor as "nobody" on a data dir nobody may only read.
    if (root) await chown(dataDir, 65534, 65534);
    await chmod(dataDir, 0o555);
    const r = await doctor({ dataDir, models: { profile: 'research' }, broadcast: { port: 0 } }, root ? { uid: 65534 } : {});
    expect(r.out).toMatch(/^PROBLEM data dir: .* has mode 0555: other users can read/m);
    expect(r.out).toMatch(/fix: `chmod 700 /);
    expect(r.out).toMatch(/^PROBLEM data dir: .* is not writable by this user.*EACCES/m);
    expect(r.out).toMatch(/fix: make the user Vigil runs as its owner: `chown -R <user> /);
    expect(r.code).not.toBe(0);
  });
});
