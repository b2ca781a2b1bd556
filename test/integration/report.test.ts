import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256File } from '../../src/audit/report.js';
import { pdfText } from '../pdf-text.js';
import { readAudit, verifyAudit } from '../../src/audit/log.js';
import { faces, hamiltonClip, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from './cli.js';

interface Manifest {
  inputs: { sha256: string; bytes: number; status: string; ffprobe: { streams: { type: string }[] } }[];
  models: { sha256: string; license: string }[];
  threshold: { value: number; calibratedFpir: number; inWords: string };
  watchlist: { sha256: string };
  config: { sha256: string };
  auditLog: { size: number; head: string };
  files: Record<string, string>;
}

describe('vigil replay --report (evidence bundle; real models, ffmpeg, chromium)', () => {
  it('writes a bundle naming the enrolled person with every sighting; a second run gives the same alert ids and events', async () => {
    const data = await dataDirWithModels();
    const env = { VIGIL_DATA_DIR: data, VIGIL_PROFILE: 'research' };
    const e = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', '--reason', 'court order 42', faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    expect(e.code, e.stderr).toBe(0);
    const out = await tempDir('vigil-report-');
    const [d1, d2] = [join(out, 'a'), join(out, 'b')];
    const r1 = await vigil(['replay', hamiltonClip(), '--report', d1], env);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(/SIGHTING t=0\.0–\d\.\ds .*Lin-Manuel Miranda/);

    const m = JSON.parse(await readFile(join(d1, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.inputs[0]!.sha256).toBe(await sha256File(hamiltonClip()));
    expect(m.inputs[0]!.status).toBe('complete');
    expect(m.inputs[0]!.ffprobe.streams.map((s) => s.type)).toContain('video');
    expect(m.models.length).toBeGreaterThanOrEqual(2);
    for (const x of m.models) expect(x.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.threshold.inWords).toMatch(/about 1 false alert per [\d,]+ unknown faces/);
    expect(m.auditLog.size).toBe(1); // the enrollment
    // every other file of the bundle is listed with its sha256
    const files = (await readdir(d1, { recursive: true, withFileTypes: true })).filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name).slice(d1.length + 1)).filter((f) => f !== 'manifest.json').sort();
    expect(Object.keys(m.files).sort()).toEqual(files);
    for (const f of files) expect(m.files[f]).toBe(await sha256File(join(d1, f)));
    expect(files).toEqual(expect.arrayContaining(['events.jsonl', 'sightings.csv', 'report.html', 'report.pdf', 'config.json']));
    expect((await stat(join(d1, 'report.html'))).mode & 0o777).toBe(0o600);

    const csv = (await readFile(join(d1, 'sightings.csv'), 'utf8')).trim().split('\n');
    expect(csv.length).toBeGreaterThanOrEqual(3); // header + on stage at the start + the close-up (one alert, two sightings)
    const html = await readFile(join(d1, 'report.html'), 'utf8');
    expect(html).toContain('Lin-Manuel Miranda');
    expect(html).not.toMatch(/src="(?!data:)/); // self-contained
    expect(html.match(/<img class="crop"/g)?.length).toBe(csv.length - 1);
    const pdf = await readFile(join(d1, 'report.pdf'));
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdfText(pdf)).toContain('Lin-Manuel Miranda');

    const r2 = await vigil(['replay', hamiltonClip(), '--report', d2, '--no-pdf'], env);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await readFile(join(d2, 'events.jsonl'), 'utf8')).toBe(await readFile(join(d1, 'events.jsonl'), 'utf8'));
    expect(await readFile(join(d2, 'sightings.csv'), 'utf8')).toBe(await readFile(join(d1, 'sightings.csv'), 'utf8'));

    // an existing, non-empty report folder is refused before anything runs
    await writeFile(join(out, 'c'), 'x');
    const r3 = await vigil(['replay', hamiltonClip(), '--report', d1], env);
    expect(r3.code).toBe(73);
    expect(r3.stderr).toContain('VIGIL_ERR_REPORT_DIR');
    expect(r3.stderr).toContain('exists and is not empty');
    // the enrollment and both exports are in the audit log, which verifies
    expect(verifyAudit(data)).toMatchObject({ ok: true, records: 3 });
  }, 180_000);

  it('reports a truncated recording as failed, not as a clean pass', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const dir = await tempDir('vigil-report-bad-');
    const bad = join(dir, 'cut.mp4');
    await writeFile(bad, (await readFile(hamiltonClip())).subarray(0, 300_000));
    const r = await vigil(['replay', bad, '--report', join(dir, 'r'), '--no-pdf'], env);
    expect(r.code).toBe(1);
    const m = JSON.parse(await readFile(join(dir, 'r', 'manifest.json'), 'utf8')) as Manifest;
    expect(m.inputs[0]!.status).toMatch(/^failed: VIGIL_ERR_INGEST_/);
    expect(await readFile(join(dir, 'r', 'report.html'), 'utf8')).toMatch(/class="bad">failed: VIGIL_ERR_INGEST_/);
  }, 120_000);

  it('without Chromium, writes the rest of the bundle and says the PDF is missing', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research', VIGIL_CHROMIUM: '/nonexistent/chromium' };
    const dir = await tempDir('vigil-report-nopdf-');
    const bad = join(dir, 'cut.mp4');
    await writeFile(bad, (await readFile(hamiltonClip())).subarray(0, 300_000));
    const r = await vigil(['replay', bad, '--report', join(dir, 'r')], env);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('VIGIL_ERR_REPORT_PDF');
    const files = await readdir(join(dir, 'r'));
    expect(files).toEqual(expect.arrayContaining(['manifest.json', 'report.html', 'events.jsonl', 'sightings.csv']));
    expect(files).not.toContain('report.pdf');
    expect(readAudit(env.VIGIL_DATA_DIR, { action: 'report.export' })).toMatchObject([{ pdf: false }]);
  }, 120_000);
});
