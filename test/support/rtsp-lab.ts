import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './net.js';

/**
 * A real RTSP server on this machine (mediamtx, built once by scripts/rtsp-server.sh) and ffmpeg
 * publishers that stream a looping file into it: simulated cameras for the RTSP tests and for
 * `vigil bench ingest`. Everything listens on 127.0.0.1 only.
 */

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** Path of the mediamtx binary, building it on first use (about a minute on 2 cores). */
export function ensureRtspServerBinary(): Promise<string> {
  return new Promise((res, rej) => {
    execFile('bash', [join(repoRoot, 'scripts', 'rtsp-server.sh')], { timeout: 15 * 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`building the RTSP server (scripts/rtsp-server.sh) failed: ${stderr.trim().split('\n').slice(-5).join(' | ') || err.message}`));
      res(stdout.trim().split('\n').pop()!);
    });
  });
}

export interface RtspServerOptions {
  readonly binary: string;
  /** 0: a free port, chosen once (restarts keep it). */
  readonly port?: number;
  /** Readers must present these credentials (publishers from 127.0.0.1 need none). */
  readonly reader?: { readonly user: string; readonly pass: string };
  /** A publisher silent this long is dropped by the server. */
  readonly readTimeoutS?: number;
}

type Waiter = { re: RegExp; resolve: () => void };

export class RtspServer {
  readonly #o: RtspServerOptions;
  #port = 0;
  #dir: string | undefined;
  #proc: ChildProcess | undefined;
  #waiters: Waiter[] = [];
  readonly log: string[] = [];

  constructor(o: RtspServerOptions) {
    this.#o = o;
  }

  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return !!this.#proc && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** rtsp://[user:pass@]127.0.0.1:port/path; `auth` false: no credentials, or other ones. */
  url(path: string, auth: boolean | { user: string; pass: string } = true): string {
    const creds = auth === true ? this.#o.reader : auth === false ? undefined : auth;
    const info = creds ? `${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.pass)}@` : '';
    return `rtsp://${info}127.0.0.1:${this.#port}/${path}`;
  }

  /** Publisher-side URL (no credentials). */
  publishUrl(path: string): string {
    return `rtsp://127.0.0.1:${this.#port}/${path}`;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.#port ||= this.#o.port || (await freePort());
    this.#dir ??= await mkdtemp(join(tmpdir(), 'vigil-rtsp-'));
    const cfg = join(this.#dir, 'mediamtx.yml');
    const r = this.#o.reader;
    const users = [
      `- user: any\n  ips: ['127.0.0.1/32']\n  permissions:\n  - action: publish\n${r ? '' : '  - action: read\n'}`,
      r ? `- user: ${JSON.stringify(r.user)}\n  pass: ${JSON.stringify(r.pass)}\n  permissions:\n  - action: read\n` : '',
    ].join('');
    await writeFile(
      cfg,
      [
        'logLevel: info',
        'logDestinations: [stdout]',
        `readTimeout: ${this.#o.readTimeoutS ?? 10}s`,
        'rtsp: yes',
        'rtspTransports: [tcp]',
        `rtspAddress: 127.0.0.1:${this.#port}`,
        'rtmp: no',
        'hls: no',
        'webrtc: no',
        'srt: no',
        'api: no',
        'metrics: no',
        'pprof: no',
        'playback: no',
        'authMethod: internal',
        'authInternalUsers:',
        users,
        'paths:',
        '  all_others:',
        '',
      ].join('\n'),
    );
    const proc = spawn(this.#o.binary, [cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    const onData = (d: Buffer): void => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        this.log.push(line);
        if (this.log.length > 500) this.log.shift();
        this.#waiters = this.#waiters.filter((w) => (w.re.test(line) ? (w.resolve(), false) : true));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    await this.waitForLog(/listener opened on .*:\d+ \(TCP/, 10_000).catch((err: Error) => {
      throw new Error(`mediamtx did not start: ${err.message}; log: ${this.log.slice(-5).join(' | ')}`);
    });
  }

  /** Resolves when the server logs a line matching `re` (after this call). */
  waitForLog(re: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((res, rej) => {
      const w: Waiter = { re, resolve: () => (clearTimeout(t), res()) };
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        rej(new Error(`no log line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  /** Stops the server as a crash would (SIGKILL): clients see their connections reset. */
  async kill(): Promise<void> {
    const p = this.#proc;
    if (!p || !this.running) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    await this.kill();
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  pid(): number | undefined {
    return this.#proc?.pid;
  }
}

export interface PublisherOptions {
  readonly server: RtspServer;
  readonly path: string;
  /** A video file, looped and paced at its own speed, its packets copied (no re-encoding). */
  readonly file?: string;
  /** Instead of a file: a lavfi source and codec args (e.g. audio only: a stream that is not video). */
  readonly lavfi?: { readonly input: string; readonly codec: readonly string[] };
}

/** An ffmpeg process streaming into the server: the camera's encoder. */
export class Publisher {
  readonly #o: PublisherOptions;
  #proc: ChildProcess | undefined;
  stderr = '';

  constructor(o: PublisherOptions) {
    this.#o = o;
  }

  /** Starts streaming and resolves once the server has the stream. */
  async start(timeoutMs = 10_000): Promise<void> {
    const { server, path, file, lavfi } = this.#o;
    const input = file ? ['-re', '-stream_loop', '-1', '-i', file, '-map', '0:v:0', '-c', 'copy'] : ['-re', '-f', 'lavfi', '-i', lavfi!.input, ...lavfi!.codec];
    const ready = server.waitForLog(new RegExp(`is publishing to path '${path}'`), timeoutMs);
    const p = spawn(process.env.FFMPEG_PATH || 'ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...input, '-f', 'rtsp', '-rtsp_transport', 'tcp', server.publishUrl(path)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.#proc = p;
    const died = new Promise<never>((_, rej) => p.once('exit', (c) => rej(new Error(`publisher ${path} exited (${c}): ${this.stderr.trim()}`))));
    await Promise.race([ready, died]);
  }

  /** Freezes the publisher (SIGSTOP): its connection stays open but no packet flows, as a hung camera. */
  pause(): void {
    this.#proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.#proc?.kill('SIGCONT');
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
  }
}

/** A simulated camera: a running server (readers need `reader`, if given) and a publisher looping `file` at `path`. */
export async function startRtspCamera(o: { readonly file: string; readonly path: string; readonly reader?: { readonly user: string; readonly pass: string }; readonly binary?: string }): Promise<{ server: RtspServer; pub: Publisher }> {
  const server = new RtspServer({ binary: o.binary ?? (await ensureRtspServerBinary()), reader: o.reader });
  await server.start();
  const pub = new Publisher({ server, path: o.path, file: o.file });
  await pub.start();
  return { server, pub };
}

/** Stops what startRtspCamera started (either may be missing when the start failed). */
export async function stopRtspCamera(server: RtspServer | undefined, pub: Publisher | undefined): Promise<void> {
  await pub?.stop();
  await server?.close();
}
