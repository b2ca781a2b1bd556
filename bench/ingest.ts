import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { cpus, homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { VigilError } from '../src/errors.js';
import { decode, ffmpegArgs, type DecodeHandle, type DecodeOptions } from '../src/ingest/ffmpeg.js';
import { ensureRtspServerBinary, type Publisher, type RtspServer, startRtspCamera } from '../test/support/rtsp-lab.js';

/**
 * `vigil bench ingest`: how many simulated cameras (RTSP, 720p H.264 at 25 fps, one key frame every
 * 2 s, sampled at 5 fps) this machine decodes without falling behind, and the CPU each costs, for
 * several hardware-free decoding choices. The cameras are RTSP sessions on a local mediamtx fed by
 * one ffmpeg publisher (packets copied, no encoding), so the CPU measured is the readers' own.
 */

const run = promisify(execFile);

export interface IngestVariant {
  readonly name: string;
  readonly what: string;
  readonly decode: Pick<DecodeOptions, 'size' | 'tuning' | 'output'>;
  /** Resize in Node (sharp) after ffmpeg, to compare with scaling inside ffmpeg. */
  readonly sharpWidth?: number;
  /** Frames per second a camera can deliver at most with this variant (key frames only: 1 per GOP). */
  readonly maxFps?: number;
}

export const VARIANTS: readonly IngestVariant[] = [
  { name: 'default', what: "Vigil's default: 1 decoder thread, all frames decoded, RGB at source size (1280x720)", decode: { size: { maxWidth: 1280 }, tuning: { threads: 1 } } },
  { name: 'threads-auto', what: "ffmpeg's own thread count (one per core + 1)", decode: { size: { maxWidth: 1280 }, tuning: { threads: 0 } } },
  { name: 'scale-640', what: 'scaled to 640x360 inside ffmpeg', decode: { size: { maxWidth: 640 }, tuning: { threads: 1 } } },
  { name: 'sharp-640', what: 'RGB at 1280x720, scaled to 640x360 in Node (sharp)', decode: { size: { maxWidth: 1280 }, tuning: { threads: 1 } }, sharpWidth: 640 },
  { name: 'jpeg', what: 'JPEG out of ffmpeg (what crosses processes in the distributed mode), 1280x720', decode: { size: { maxWidth: 1280 }, tuning: { threads: 1 }, output: 'jpeg' } },
  { name: 'keyframes', what: '-skip_frame nokey: key frames only (0.5 fps here)', decode: { size: { maxWidth: 1280 }, tuning: { threads: 1, keyframesOnly: true } }, maxFps: 0.5 },
];

export interface StepResult {
  readonly variant: string;
  readonly cameras: number;
  /** Delivered frames per second per camera: the worst camera, and the mean. */
  readonly fpsMin: number;
  readonly fpsMean: number;
  /** How much further behind the stream clock a camera fell during the window (worst camera), s. */
  readonly lagGrowthS: number;
  readonly keptUp: boolean;
  /** CPU per camera in % of one core: ffmpeg (decoding) + Node (reading the pipe, sharp). */
  readonly cpuPerCamera: number;
  readonly ffmpegCpuPerCamera: number;
  readonly nodeCpu: number;
  /** The RTSP server and publisher (the "cameras" themselves), % of one core. */
  readonly serverCpu: number;
  /** Whole-machine CPU busy during the window, % of all cores; includes other users of the machine. */
  readonly machineBusy: number;
  readonly errors: number;
}

export interface BenchIngestOptions {
  readonly variants: readonly string[];
  readonly cameras: readonly number[];
  readonly fps: number;
  readonly seconds: number;
  readonly sharedDir: string;
  readonly cacheDir?: string;
  readonly progress: (line: string) => void;
}

export interface BenchIngestReport {
  readonly source: string;
  readonly cores: number;
  readonly loadBefore: readonly number[];
  readonly results: StepResult[];
  readonly maxCameras: Record<string, number>;
  readonly commands: Record<string, string>;
}

const CLK_TCK = 100;

async function procCpuS(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 (utime, stime) counted from after the ")" at index 11 and 12
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function machineCpu(): Promise<{ busy: number; total: number }> {
  const [line = ''] = (await readFile('/proc/stat', 'utf8')).split('\n');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [, , , idleTime = NaN, iowait = 0] = v;
  const idle = idleTime + iowait;
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** The 720p source: the shared CCTV-like clip (people walking toward the camera), scaled and re-encoded once. */
async function ensureSource(sharedDir: string, cacheDir: string): Promise<{ file: string; what: string }> {
  const file = join(cacheDir, 'cam-720p25-gop50.mp4');
  const clip = join(sharedDir, 'data', 'faces', 'facenet-pytorch', '_video', 'video.mp4');
  const what = existsSync(clip) ? 'facenet-pytorch video.mp4 (people walking), 1280x720 H.264 25 fps, GOP 50, ~2 Mb/s' : 'testsrc2 (synthetic), 1280x720 H.264 25 fps, GOP 50';
  if (existsSync(file)) return { file, what };
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${file}.partial.mp4`;
  const input = existsSync(clip) ? ['-stream_loop', '2', '-i', clip] : ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25:duration=12'];
  await run('ffmpeg', ['-y', '-v', 'error', ...input, '-an', '-vf', 'scale=1280:720,fps=25', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-bf', '0', '-b:v', '2M', '-maxrate', '2M', '-bufsize', '4M', tmp]);
  await rename(tmp, file);
  return { file, what };
}

interface Cam {
  handle: DecodeHandle;
  frames: { at: number; pts: number | null }[];
  errors: number;
}

export async function benchIngest(o: BenchIngestOptions): Promise<BenchIngestReport> {
  const cacheDir = o.cacheDir ?? join(process.env.VIGIL_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vigil'), 'bench');
  const loadBefore = loadavg();
  o.progress(`preparing: RTSP server (mediamtx) and the 720p source in ${cacheDir}`);
  const [binary, source] = await Promise.all([ensureRtspServerBinary(), ensureSource(o.sharedDir, cacheDir)]);
  const { server, pub } = await startRtspCamera({ binary, path: 'cam', file: source.file });
  const results: StepResult[] = [];
  const maxCameras: Record<string, number> = {};
  const commands: Record<string, string> = {};
  try {
    for (const name of o.variants) {
      const v = VARIANTS.find((x) => x.name === name);
      if (!v) throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench: 'ingest', reason: `unknown variant "${name}" (known: ${VARIANTS.map((x) => x.name).join(', ')})` });
      const opts: DecodeOptions = { url: server.url('cam'), fps: o.fps, sampling: 'live', ...v.decode };
      commands[v.name] = `ffmpeg ${ffmpegArgs(opts).join(' ')}`;
      maxCameras[v.name] = 0;
      for (const n of o.cameras) {
        const r = await step(v, opts, n, o, server, pub);
        results.push(r);
        o.progress(
          `${v.name.padEnd(12)} ${String(n).padStart(3)} cams: ${r.fpsMin.toFixed(2)}/${r.fpsMean.toFixed(2)} fps (min/mean), lag ${r.lagGrowthS >= 0 ? '+' : ''}${r.lagGrowthS.toFixed(2)} s, ` +
            `CPU/cam ${r.cpuPerCamera.toFixed(1)}% (ffmpeg ${r.ffmpegCpuPerCamera.toFixed(1)}%), node ${r.nodeCpu.toFixed(0)}%, server ${r.serverCpu.toFixed(0)}%, machine ${r.machineBusy.toFixed(0)}% busy` +
            `${r.errors ? `, ${r.errors} errors` : ''} -> ${r.keptUp ? 'keeps up' : 'FALLS BEHIND'}`,
        );
        if (!r.keptUp) break;
        maxCameras[v.name] = n;
      }
    }
  } finally {
    await pub.stop();
    await server.close();
  }
  return { source: source.what, cores: cpus().length, loadBefore, results, maxCameras, commands };
}

async function step(v: IngestVariant, opts: DecodeOptions, n: number, o: BenchIngestOptions, server: RtspServer, pub: Publisher): Promise<StepResult> {
  const cams: Cam[] = [];
  let sharpBusy = 0;
  for (let i = 0; i < n; i++) {
    const cam: Cam = { handle: undefined as unknown as DecodeHandle, frames: [], errors: 0 };
    cam.handle = decode(opts, {
      onFrame: (f) => {
        cam.frames.push({ at: Date.now(), pts: f.pts });
        if (v.sharpWidth && sharpBusy < 64) {
          sharpBusy++;
          void sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } })
            .resize(v.sharpWidth)
            .raw()
            .toBuffer()
            .finally(() => sharpBusy--);
        }
      },
    });
    cam.handle.done.catch(() => cam.errors++);
    cams.push(cam);
  }
  // Warm up: every camera connected and past its first key frame (or 8 s).
  const t0 = Date.now();
  const firstSeen = new Set<number>();
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      cams.forEach((c, i) => c.frames.length && firstSeen.add(i));
      if (firstSeen.size === n || Date.now() - t0 > 8000) {
        clearInterval(t);
        resolve();
      }
    }, 100);
  });
  // Let the catch-up burst after connecting pass (a reader starts behind: it waits for a key frame).
  await new Promise((r) => setTimeout(r, 2500));
  for (const c of cams) c.frames.length = 0;
  const windowStart = Date.now();
  const cpu0 = await Promise.all(cams.map((c) => procCpuS(c.handle.pid)));
  const srv0 = (await procCpuS(server.pid())) + (await procCpuS(pub.pid));
  const node0 = process.cpuUsage();
  const m0 = await machineCpu();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const elapsed = (Date.now() - windowStart) / 1000;
  const cpu1 = await Promise.all(cams.map((c) => procCpuS(c.handle.pid)));
  const srv1 = (await procCpuS(server.pid())) + (await procCpuS(pub.pid));
  const node1 = process.cpuUsage(node0);
  const m1 = await machineCpu();
  const windowEnd = Date.now();
  for (const c of cams) c.handle.stop();
  await Promise.all(cams.map((c) => c.handle.done.catch(() => undefined)));

  const expected = Math.min(o.fps, v.maxFps ?? Infinity);
  const fps = cams.map((c) => c.frames.filter((f) => f.at <= windowEnd).length / elapsed);
  const lag = cams.map((c) => {
    const fs = c.frames.filter((f) => f.pts !== null);
    if (fs.length < 2) return Infinity;
    const a = fs[0]!;
    const b = fs[fs.length - 1]!;
    return (b.at - a.at) / 1000 - (b.pts! - a.pts!);
  });
  const ffmpegCpu = cpu1.reduce((s, x, i) => s + (x - cpu0[i]!), 0) / elapsed;
  const nodeCpu = (node1.user + node1.system) / 1e6 / elapsed;
  const fpsMin = Math.min(...fps);
  const lagGrowthS = Math.max(...lag);
  return {
    variant: v.name,
    cameras: n,
    fpsMin,
    fpsMean: fps.reduce((a, b) => a + b, 0) / n,
    lagGrowthS,
    // Within 10% of the rate asked for, and not drifting behind the stream by more than a second.
    keptUp: fpsMin >= 0.9 * expected * (1 - 1 / Math.max(1, expected * elapsed)) && lagGrowthS < 1,
    cpuPerCamera: ((ffmpegCpu + nodeCpu) / n) * 100,
    ffmpegCpuPerCamera: (ffmpegCpu / n) * 100,
    nodeCpu: nodeCpu * 100,
    serverCpu: ((srv1 - srv0) / elapsed) * 100,
    machineBusy: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100,
    errors: cams.reduce((a, c) => a + c.errors, 0),
  };
}
