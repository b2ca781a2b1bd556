import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/audit/canonical.js';
import { AuditLog } from '../../../src/audit/log.js';
import { checkReportDir, fpirAt, redactedConfig } from '../../../src/audit/report.js';
import { auditRoutes } from '../../../src/audit/routes.js';
import { parseConfig } from '../../../src/config/load.js';
import { loadManifest, thresholdForFpir } from '../../../src/models/manifest.js';
import { tempDir } from '../../helpers.js';

describe('evidence helpers', () => {
  it('canonical JSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
  });

  it('maps a threshold back to its calibrated FPIR (the inverse of targetFpir)', () => {
    const cal = loadManifest().profiles.research!.calibration!;
    for (const f of [0.001, 0.01, 0.05]) {
      const { threshold } = thresholdForFpir(cal, f);
      expect(fpirAt(cal, threshold)!.fpir).toBeCloseTo(f, 6);
    }
    expect(fpirAt(cal, 0.99)!.clamped).toBe(true);
    expect(fpirAt(undefined, 0.3)).toBeNull();
  });

  it('refuses a report folder that exists and is not empty, or is a file', async () => {
    const dir = await tempDir();
    expect(() => checkReportDir(join(dir, 'new'))).not.toThrow();
    await mkdir(join(dir, 'empty'));
    expect(() => checkReportDir(join(dir, 'empty'))).not.toThrow();
    await writeFile(join(dir, 'empty', 'x'), '');
    expect(() => checkReportDir(join(dir, 'empty'))).toThrow(/exists and is not empty/);
    expect(() => checkReportDir(join(dir, 'empty', 'x'))).toThrow(/not a folder/);
  });

  it('keeps secrets out of the config it hashes and ships', () => {
    const cfg = parseConfig({ cameras: [{ id: 'door', url: 'rtsp://admin:hunter22@10.0.0.2/s1' }], broadcast: { token: 'a-very-secret-token-123' } }, {});
    const text = JSON.stringify(redactedConfig(cfg));
    expect(text).not.toContain('hunter22');
    expect(text).not.toContain('a-very-secret-token-123');
    expect(text).toContain('rtsp://admin:***@10.0.0.2/s1');
  });

  it('serves the audit log and its verification to admins', async () => {
    const dir = await tempDir();
    const log = new AuditLog(dir);
    await log.record({ actor: 'cli:a', action: 'subject.enroll', subject: 's' });
    await log.record({ actor: 'cli:a', action: 'search.face' });
    const [list, verify] = auditRoutes(dir);
    expect(list!.role).toBe('admin');
    const actor = { role: 'admin' as const, name: 'admin:t' };
    const r = await list!.handle({ method: 'GET', params: {}, query: new URLSearchParams('action=search.face'), body: undefined, actor });
    expect(r.body).toMatchObject({ total: 1, records: [{ seq: 1, action: 'search.face' }] });
    expect((await verify!.handle({ method: 'GET', params: {}, query: new URLSearchParams(), body: undefined, actor })).status).toBe(200);
  });
});
