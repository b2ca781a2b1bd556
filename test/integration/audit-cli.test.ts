import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuditLog, auditFiles } from '../../src/audit/log.js';
import { tempDir } from '../helpers.js';
import { vigil } from './cli.js';

describe('vigil audit (CLI)', () => {
  it('verify passes an untouched log, fails naming the first bad record; show filters', async () => {
    const dir = await tempDir('vigil-audit-cli-');
    const log = new AuditLog(dir, { checkpointEvery: 3 });
    for (let i = 0; i < 7; i++) await log.record({ actor: 'cli:t', action: i === 5 ? 'report.export' : 'subject.enroll', subject: `s${i}`, reason: 'test' });
    const env = { VIGIL_DATA_DIR: dir };
    const ok = await vigil(['audit', 'verify'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/audit log OK: 7 record\(s\), head [0-9a-f]{16}…, 3 signed checkpoint\(s\)/);

    const shown = await vigil(['audit', 'show', '--action', 'report.export', '--json'], env);
    expect(shown.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([5]);

    const f = auditFiles(dir).log;
    writeFileSync(f, readFileSync(f, 'utf8').replace('"s4"', '"s9"'));
    const bad = await vigil(['audit', 'verify'], env);
    expect(bad.code).toBe(65);
    expect(bad.stderr).toContain('VIGIL_ERR_AUDIT_TAMPERED');
    expect(bad.stderr).toContain('record #4 (line 5)');
  });
});
