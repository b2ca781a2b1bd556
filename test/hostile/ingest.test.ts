/**
 * Ingest as a hostile or careless user would use it (issue 12, items 4 and 6). Each case failed
 * before its fix: a hang, a clean success on a broken recording, a merged camera, an option or
 * protocol smuggled to ffmpeg, a stack trace, a password in plain sight.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig, loadConfig } from '../../src/config/load.js';
import { ffmpegArgs } from '../../src/ingest/ffmpeg.js';
import { recordingIds } from '../../src/ingest/input.js';
import { safeUrl } from '../../src/util/redact.js';
import { camera, FAST, IngestRig, replay } from '../unit/ingest/rig.js';
import { freePort } from '../support/net.js';
import { hamiltonClip, repoRoot, tempDir } from '../helpers.js';
import { dataDirWithModels, runProcess, vigil } from '../integration/cli.js';

const run = promisify(execFile);

/** The command lines of this process's ffmpeg children, as `ps` shows them to any user. */
function ffmpegChildren(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes('ffmpeg')) out.push(cmd);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The clip remuxed with its index first (as cameras and NVRs write MP4), then cut at `share` of its bytes. */
async function cutRecording(dir: string, share: number): Promise<string> {
  const whole = join(dir, 'faststart.mp4');
  await run('ffmpeg', ['-v', 'error', '-y', '-i', hamiltonClip(), '-c', 'copy', '-movflags', '+faststart', whole]);
  const bytes = await readFile(whole);
  const cut = join(dir, 'cut40.mp4');
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * share)));
  return cut;
}

describe('hostile replay inputs', () => {
  it('a FIFO as a recording is refused at once instead of hanging', async () => {
    const fifo = join(await tempDir(), 'rec.mp4');
    await run('mkfifo', [fifo]);
    const t0 = Date.now();
    const { result } = await replay(fifo);
    expect(result.error?.code).toBe('VIGIL_ERR_INGEST_NOT_FILE');
    expect(result.error?.message).toMatch(/cannot be replayed: it is a FIFO \(named pipe\), not a regular file/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('pipe:0, concat:, subfile: and data: are refused with the protocol named, under replay and live', async () => {
    const clip = hamiltonClip();
    const urls = ['pipe:0', `concat:${clip}|${clip}`, `subfile,,start,0,end,100000,,:${clip}`, 'data:video/mp4;base64,AAAA', `file:${clip}|x`.replace('file:', 'crypto+file:')];
    for (const url of urls) {
      const { result } = await replay(url);
      expect(result.error?.code, url).toBe('VIGIL_ERR_INGEST_PROTOCOL');
      expect(result.error?.message, url).toMatch(/protocol is not allowed/);
    }
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'cat', url: `concat:${clip}|${clip}` })]);
      await rig.until(() => rig.lastStatus('cat')?.state === 'backoff', 5000, 'the refusal');
      expect(rig.lastStatus('cat')?.error?.code).toBe('VIGIL_ERR_INGEST_PROTOCOL');
      expect(rig.count('cat')).toBe(0);
    } finally {
      await rig.close();
    }
  });

  it('ffmpeg opens nothing but what the scheme needs (-protocol_whitelist), and a path is never an option', () => {
    const args = ffmpegArgs({ url: '-clip.mp4', fps: 1 });
    expect(args[args.indexOf('-protocol_whitelist') + 1]).toBe('file');
    const input = args[args.indexOf('-i') + 1];
    expect(input).toBe(join(process.cwd(), '-clip.mp4'));
    const rtsp = ffmpegArgs({ url: 'rtsp://cam/x', fps: 1 });
    expect(rtsp[rtsp.indexOf('-protocol_whitelist') + 1]).toBe('rtsp,rtp,srtp,udp,tcp,tls');
  });

  it('a recording whose name starts with "-" is replayed as a file, not read as an option', async () => {
    const dir = await tempDir();
    await copyFile(hamiltonClip(), join(dir, '-report.mp4'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { result } = await replay('-report.mp4', { fps: 1 });
      expect(result).toMatchObject({ frames: 10, error: null });
    } finally {
      process.chdir(cwd);
    }
  });

  it('a recording cut at 40% is reported truncated, not a clean success', async () => {
    const cut = await cutRecording(await tempDir(), 0.4);
    const { result } = await replay(cut, { fps: 5 });
    expect(result.error?.code).toBe('VIGIL_ERR_INGEST_TRUNCATED');
    expect(result.error?.message).toMatch(/decoded 4\.\d s of the 9\.\d s its container states/);
    expect(result.frames).toBeGreaterThan(0); // what was there was still delivered
  });

  it('the live probe is covered by the open watchdog: a FIFO camera times out and backs off', async () => {
    const fifo = join(await tempDir(), 'cam.mp4');
    await run('mkfifo', [fifo]);
    const rig = new IngestRig({ ...FAST, openTimeoutMs: 1000 });
    try {
      await rig.set.apply([camera({ id: 'fifo', url: fifo })]);
      await rig.until(() => rig.lastStatus('fifo')?.state === 'backoff', 8000, 'the open timeout');
      expect(rig.lastStatus('fifo')?.error?.code).toBe('VIGIL_ERR_INGEST_OPEN_TIMEOUT');
    } finally {
      await rig.close();
    }
  });

  it('two recordings with the same name in different folders are two cameras', () => {
    expect(recordingIds(['/a/door.mp4', '/b/door.mp4', '/c/gate.mkv'])).toEqual(['a_door', 'b_door', 'gate']);
    expect(recordingIds(['x/door.mp4', 'x/door.mp4'])).toEqual(['x_door', 'x_door-2']);
  });
});

describe('hostile replay on the CLI', () => {
  it('exit 1 for a truncated recording, two cameras for two same-named files', async () => {
    const dir = await tempDir();
    const cut = await cutRecording(dir, 0.4);
    for (const d of ['north', 'south']) {
      await mkdir(join(dir, d));
      await copyFile(hamiltonClip(), join(dir, d, 'door.mp4'));
    }
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const r = await vigil(['replay', '--fps', '2', join(dir, 'north', 'door.mp4'), join(dir, 'south', 'door.mp4'), cut, '--json'], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/north_door: 20 frames/);
    expect(r.stderr).toMatch(/south_door: 20 frames/);
    expect(r.stderr).toMatch(/cut40: VIGIL_ERR_INGEST_TRUNCATED: camera cut40: .* is truncated or corrupt/);
    expect(r.stderr).toMatch(/1 file\(s\) failed/);
  });

  it('`vigil replay --json | head -1` ends quietly when the reader goes away (EPIPE)', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const e = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', join(hamiltonClip(), '..', '..', 'lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    expect(e.code, e.stderr).toBe(0);
    const cli = `"${process.execPath}" "${join(repoRoot, 'bin', 'vigil.js')}"`;
    const out = await runProcess('sh', ['-c', `${cli} replay --json --no-crop "${hamiltonClip()}" | head -1`], env);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ type: 'alert', subject: { id: 'lin_manuel_miranda' } });
    expect(out.stderr).not.toMatch(/EPIPE|Error:|\n\s+at /);
  });
});

describe('hostile credentials', () => {
  const PASS = 'pa/ss@w:rd#%x';

  it('a password with "/" and credential query values stay out of status events and logs', async () => {
    const port = await freePort();
    const url = `rtsp://admin:${PASS}@127.0.0.1:${port}/live?api_key=K3yK3yK3y&access_token=T0kT0kT0k&secret=S3cS3cS3c`;
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'leaky', url })]);
      await rig.until(() => rig.lastStatus('leaky')?.state === 'backoff', 8000, 'the failure');
      const text = JSON.stringify(rig.statuses) + rig.logs.join('\n');
      for (const s of ['pa/ss', 'w:rd', 'K3yK3yK3y', 'T0kT0kT0k', 'S3cS3cS3c']) expect(text).not.toContain(s);
      expect(rig.lastStatus('leaky')?.url).toBe(`rtsp://admin:***@127.0.0.1:${port}/live?api_key=***&access_token=***&secret=***`);
    } finally {
      await rig.close();
    }
  });

  it('ffmpeg\'s command line, readable by every local user, holds no camera credentials', async () => {
    // A server that accepts and never answers keeps ffmpeg waiting for the RTSP reply.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'hidden', url: `rtsp://admin:${PASS}@127.0.0.1:${port}/live?api_key=K3yK3yK3y` })]);
      let cmdline = '';
      await rig.until(() => {
        cmdline = ffmpegChildren().join('\n');
        return cmdline.includes('ffmpeg');
      }, 5000, 'ffmpeg to start');
      expect(cmdline).toContain('pipe:3');
      for (const s of ['pa/ss', 'w:rd', 'K3yK3yK3y', `127.0.0.1:${port}`]) expect(cmdline).not.toContain(s);
    } finally {
      await rig.close();
      silent.close();
    }
  });

  it('{VIGIL_*} placeholders are percent-encoded in a URL\'s user info and query, as they are elsewhere', () => {
    const env = { VIGIL_PW: PASS, VIGIL_HOST: 'cam.local:8554', VIGIL_TOKEN: 'a&b=c' };
    const cfg = parseConfig({ cameras: [{ id: 'door', url: 'rtsp://admin:{VIGIL_PW}@{VIGIL_HOST}/live?token={VIGIL_TOKEN}' }] }, env);
    expect(cfg.cameras[0]!.url).toBe(`rtsp://admin:${encodeURIComponent(PASS)}@cam.local:8554/live?token=a%26b%3Dc`);
    expect(new URL(cfg.cameras[0]!.url.replace('rtsp:', 'http:')).password).toBe(encodeURIComponent(PASS));
    expect(safeUrl(cfg.cameras[0]!.url)).toBe('rtsp://admin:***@cam.local:8554/live?token=***');
  });

  it('a YAML syntax error does not print the offending line\'s password', async () => {
    const file = join(await tempDir(), 'vigil.yaml');
    await writeFile(file, `cameras:\n  - { id: door, url: "rtsp://admin:${PASS}@cam/1", fps: 5\n  - id: [oops\n`);
    const err = (() => {
      try {
        loadConfig(file, {});
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/VIGIL|invalid configuration/);
    expect(err?.message).not.toContain('pa/ss');
    expect(err?.message).not.toContain('w:rd');
    expect(err?.cause).toBeUndefined();
  });
});
