import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import sharp from 'sharp';
import type { Config } from '../config/schema.js';
import type { MatchEvent, SightingMsg, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { redactUrls } from '../util/redact.js';
import type { FaceEngine } from '../inference/engine.js';
import type { WatchlistStore } from '../matcher/watchlist.js';
import type { Calibration } from '../models/manifest.js';
import { canonicalJson, sha256File, sha256Hex } from './canonical.js';

export { sha256File };
import { blurBystanders } from './blur.js';
import { CHROMIUM_PATH, htmlToPdf } from './chromium.js';
import { renderReport, type ReportView } from './report-html.js';

/** A report folder must be new or empty: an existing report is never overwritten or mixed into. */
export function checkReportDir(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new VigilError('VIGIL_ERR_REPORT_DIR', { dir, reason: 'exists and is not a folder' });
  if (readdirSync(dir).length > 0) throw new VigilError('VIGIL_ERR_REPORT_DIR', { dir, reason: 'exists and is not empty' });
}

/** The parts of ffprobe's answer an auditor needs to recognise the recording. */
export function ffprobeSummary(file: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    ffmpeg.ffprobe(file, (err, d) => {
      if (err) return resolve({ error: String((err as Error).message).split('\n').slice(-2).join(' ') });
      resolve({
        format: d.format.format_name,
        duration: Number(d.format.duration) || null,
        bitRate: Number(d.format.bit_rate) || null,
        creationTime: (d.format.tags?.creation_time as string | undefined) ?? null,
        streams: d.streams.map((s) => ({
          type: s.codec_type,
          codec: s.codec_name,
          ...(s.codec_type === 'video' ? { width: s.width, height: s.height, frameRate: s.r_frame_rate, frames: Number(s.nb_frames) || null } : {}),
          ...(s.codec_type === 'audio' ? { sampleRate: Number(s.sample_rate) || null, channels: s.channels } : {}),
          duration: Number(s.duration) || null,
        })),
      });
    });
  });
}

/** The calibrated false-positive identification rate at a threshold (log-linear between measured points). */
export function fpirAt(cal: Calibration | undefined, threshold: number): { fpir: number; clamped: boolean } | null {
  if (!cal) return null;
  const pts = [...cal.points].sort((a, b) => a.threshold - b.threshold);
  if (threshold <= pts[0]!.threshold) return { fpir: pts[0]!.fpir, clamped: threshold < pts[0]!.threshold };
  const last = pts.at(-1)!;
  if (threshold >= last.threshold) return { fpir: last.fpir, clamped: threshold > last.threshold };
  for (let i = 1; i < pts.length; i++) {
    const lo = pts[i - 1]!;
    const hi = pts[i]!;
    if (threshold <= hi.threshold) {
      const t = (threshold - lo.threshold) / (hi.threshold - lo.threshold);
      return { fpir: Math.exp(Math.log(lo.fpir) + t * (Math.log(hi.fpir) - Math.log(lo.fpir))), clamped: false };
    }
  }
  return null;
}

/** Keys whose values are secrets wherever they sit in the config (tokens, passwords, sink secrets, TLS keys). */
const SECRET_KEY = /^(token|tokens|password|passwd|secret|key|apiKey|api_key)$/i;

/** The config as it ran, secrets out: every credential-named value, and the passwords and secret query values of every URL. */
export function redactedConfig(cfg: Config): unknown {
  const walk = (v: unknown, key: string): unknown => {
    if (v === undefined || v === null) return v;
    if (SECRET_KEY.test(key)) return '***';
    if (typeof v === 'string') return redactUrls(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, ''));
    if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(cfg, '');
}

export interface ReplayedFile {
  readonly file: string;
  readonly camera: string;
  readonly frames: number;
  /** frames sampled per second */
  readonly fps: number;
  readonly width: number | null;
  readonly height: number | null;
  readonly duration: number | null;
  /** "complete", or the error that stopped it (corrupt, truncated, unreadable) */
  readonly status: string;
}

export interface EvidenceInput {
  readonly dir: string;
  readonly cfg: Config;
  readonly engine: FaceEngine;
  readonly store: WatchlistStore;
  readonly threshold: number;
  readonly thresholdFrom: string;
  readonly files: readonly ReplayedFile[];
  readonly events: readonly MatchEvent[];
  readonly sightings: readonly SightingMsg[];
  readonly unknown: Readonly<Record<string, { faces: number; tracks: number }>>;
  readonly auditHead: { readonly size: number; readonly head: string };
  readonly vigilVersion: string;
  /** false: no report.pdf (no Chromium) */
  readonly pdf?: boolean;
  /** blur every face but the subject's in the exported crops */
  readonly blurBystanders?: boolean;
  readonly now?: Date;
}

const byTime = <T extends { camera: string; capturedAt?: string; firstSeenAt?: string; id: string }>(a: T, b: T): number =>
  a.camera.localeCompare(b.camera) || (a.firstSeenAt ?? a.capturedAt ?? '').localeCompare(b.firstSeenAt ?? b.capturedAt ?? '') || a.id.localeCompare(b.id);

async function put(dir: string, rel: string, data: string | Uint8Array): Promise<void> {
  const p = join(dir, rel);
  await writeFile(p, data, { mode: 0o600 });
}

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

async function enrolledPhoto(store: WatchlistStore, s: SubjectRecord | undefined): Promise<string | null> {
  const img = s?.images[0];
  if (!img) return null;
  const m = /\.[A-Za-z0-9]+$/.exec(img.name);
  const p = store.imagePath(img.sha256, m ? m[0] : '');
  if (!existsSync(p)) return null;
  const jpeg = await sharp(p).rotate().resize({ width: 300, withoutEnlargement: true }).jpeg({ quality: 85 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

/**
 * Writes the evidence bundle of a replay: manifest.json (inputs, models, threshold, watchlist and
 * config hashes, the audit-log head, every other file's sha256), events.jsonl, sightings.csv,
 * crops/, report.html (self-contained) and report.pdf. Folders 0700, files 0600 (faces inside).
 * Returns the manifest's sha256; a PDF that could not be rendered is returned as `pdfError` (the rest is written).
 */
export async function writeEvidence(x: EvidenceInput): Promise<{ manifestSha256: string; files: string[]; pdfError?: VigilError }> {
  checkReportDir(x.dir);
  await mkdir(join(x.dir, 'crops', 'events'), { recursive: true, mode: 0o700 });
  await mkdir(join(x.dir, 'crops', 'sightings'), { recursive: true, mode: 0o700 });
  await chmod(x.dir, 0o700);
  const blur = async (b64: string): Promise<string> => (x.blurBystanders ? (await blurBystanders(x.engine, Buffer.from(b64, 'base64'))).toString('base64') : b64);
  const events = await Promise.all([...x.events].sort((a, b) => byTime(a, b) || a.revision - b.revision).map(async (e) => ({ ...e, crop: await blur(e.crop) })));
  const sightings = await Promise.all([...x.sightings].sort(byTime).map(async (s) => ({ ...s, crop: await blur(s.crop) })));
  const fileOf = new Map(x.files.map((f) => [f.camera, basename(f.file)]));

  const eventLines: string[] = [];
  for (const e of events) {
    const { crop, ...rest } = e;
    const cropFile = `crops/events/${e.id}-r${e.revision}.jpg`;
    await put(x.dir, cropFile, Buffer.from(crop, 'base64'));
    eventLines.push(JSON.stringify({ ...rest, cropFile }));
  }
  await put(x.dir, 'events.jsonl', eventLines.map((l) => `${l}\n`).join(''));

  const cols = ['id', 'alert_id', 'subject_id', 'subject_name', 'file', 'camera', 'first_seen_at', 'last_seen_at', 'first_media_time', 'last_media_time', 'faces', 'similarity', 'threshold', 'best_at', 'best_media_time', 'crop_file'];
  const rows = [cols.join(',')];
  for (const s of sightings) {
    const cropFile = `crops/sightings/${s.id}.jpg`;
    await put(x.dir, cropFile, Buffer.from(s.crop, 'base64'));
    rows.push([s.id, s.alertId, s.subject.id, s.subject.name, fileOf.get(s.camera) ?? '', s.camera, s.firstSeenAt, s.lastSeenAt, s.firstMediaTime, s.lastMediaTime, s.faces, s.similarity, s.threshold, s.bestAt, s.bestMediaTime, cropFile].map(csvCell).join(','));
  }
  await put(x.dir, 'sightings.csv', `${rows.join('\n')}\n`);

  const cfgJson = canonicalJson(redactedConfig(x.cfg));
  await put(x.dir, 'config.json', `${cfgJson}\n`);

  const inputs = await Promise.all(
    x.files.map(async (f) => ({ file: f.file, camera: f.camera, sha256: await sha256File(f.file).catch(() => null), bytes: (await stat(f.file).catch(() => null))?.size ?? null, ffprobe: await ffprobeSummary(f.file), framesSampled: f.frames, fps: f.fps, status: f.status })),
  );
  const p = x.engine.profile;
  const modelsDir = join(x.cfg.dataDir, 'models');
  const used = [
    { id: p.profile.detector, m: p.detector },
    ...(p.landmarker && p.detector.landmarker ? [{ id: p.detector.landmarker, m: p.landmarker }] : []),
    { id: p.profile.recognizer, m: p.recognizer },
  ];
  const models = await Promise.all(
    used.map(async ({ id, m }) => ({ id, file: m.file, sha256: await sha256File(join(modelsDir, m.file)), manifestSha256: m.sha256, license: m.license, source: m.source })),
  );
  const fp = fpirAt(p.profile.calibration, x.threshold);
  const perN = fp ? Math.round(1 / fp.fpir) : null;
  const inWords = fp
    ? `threshold ${x.threshold} (${x.thresholdFrom}): about 1 false alert per ${perN!.toLocaleString('en-US')} unknown faces${fp.clamped ? ' or fewer (beyond the calibrated range)' : ''} (calibrated FPIR ${fp.fpir.toExponential(2)} on ${p.profile.calibration!.data}; a larger watchlist raises it)`
    : `threshold ${x.threshold} (${x.thresholdFrom}); the profile has no calibration table, so its false-alert rate is not known`;
  const watchlist = x.store.list();
  const watchlistSha = sha256Hex(canonicalJson(watchlist));

  const subjects = new Map(watchlist.map((s) => [s.id, s]));
  const people = [...new Set(sightings.map((s) => s.subject.id))].map((id) => ({ id, ss: sightings.filter((s) => s.subject.id === id) }));
  const view: ReportView = {
    title: `Vigil evidence report: ${x.files.map((f) => basename(f.file)).join(', ')}`,
    createdAt: (x.now ?? new Date()).toISOString(),
    vigilVersion: x.vigilVersion,
    profile: p.name,
    models: models.map((m) => ({ id: m.id, license: m.license, sha256: m.sha256 })),
    operatingPoint: inWords,
    watchlistSha256: watchlistSha,
    auditHead: x.auditHead,
    files: inputs.map((f, i) => {
      const r = x.files[i]!;
      return {
        file: basename(f.file),
        camera: f.camera,
        sha256: f.sha256 ?? 'unreadable',
        bytes: f.bytes ?? 0,
        duration: r.duration,
        resolution: r.width ? `${r.width}x${r.height}` : '?',
        frames: r.frames,
        status: r.status,
        alerts: events.filter((e) => e.camera === f.camera && e.type === 'alert').length,
        sightings: sightings.filter((s) => s.camera === f.camera).length,
        unknownAppearances: x.unknown[f.camera]?.tracks ?? 0,
      };
    }),
    people: await Promise.all(
      people.map(async ({ id, ss }) => ({
        id,
        name: ss[0]!.subject.name,
        enrolled: await enrolledPhoto(x.store, subjects.get(id)),
        sightings: ss.map((s) => ({ ...s, file: fileOf.get(s.camera) ?? s.camera, cropUri: `data:image/jpeg;base64,${s.crop}` })),
      })),
    ),
  };
  const html = renderReport(view);
  await put(x.dir, 'report.html', html);
  let pdfError: VigilError | undefined;
  if (x.pdf !== false) {
    try {
      await put(x.dir, 'report.pdf', await htmlToPdf(html));
    } catch (e) {
      // The rest of the bundle is still worth having: the manifest is written, then the error raised.
      pdfError = new VigilError('VIGIL_ERR_REPORT_PDF', { path: CHROMIUM_PATH, reason: (e as Error).message.split('\n')[0] ?? String(e) }, e);
    }
  }

  const bundleFiles = listFiles(x.dir).filter((f) => f !== 'manifest.json');
  const fileHashes: Record<string, string> = {};
  for (const f of bundleFiles) fileHashes[f] = sha256Hex(readFileSync(join(x.dir, f)));
  const manifest = {
    kind: 'vigil-evidence',
    v: 1,
    createdAt: view.createdAt,
    vigil: { version: x.vigilVersion },
    inputs,
    profile: p.name,
    embeddingModel: p.embeddingModel,
    models,
    threshold: { value: x.threshold, from: x.thresholdFrom, calibratedFpir: fp?.fpir ?? null, beyondCalibration: fp?.clamped ?? null, inWords },
    alertRules: x.cfg.alerts,
    bystandersBlurred: x.blurBystanders ?? false,
    watchlist: { subjects: watchlist.length, sha256: watchlistSha, ids: watchlist.map((s) => s.id) },
    config: { sha256: sha256Hex(cfgJson), file: 'config.json', redacted: ['cameras[].url passwords', 'broadcast.token'] },
    auditLog: x.auditHead,
    counts: { events: events.length, alerts: events.filter((e) => e.type === 'alert').length, sightings: sightings.length },
    files: fileHashes,
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await put(x.dir, 'manifest.json', text);
  return { manifestSha256: sha256Hex(text), files: [...bundleFiles, 'manifest.json'], pdfError };
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? listFiles(join(dir, d.name), base) : [relative(base, join(dir, d.name))]))
    .sort();
}

export const vigilVersion = (): string => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
