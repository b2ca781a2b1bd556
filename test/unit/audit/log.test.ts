import { spawn } from 'node:child_process';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, auditFiles, readAudit, verifyAudit, type AuditRecord } from '../../../src/audit/log.js';
import { isVigilError } from '../../../src/errors.js';
import { repoRoot, tempDir } from '../../helpers.js';

const lines = (f: string): string[] => readFileSync(f, 'utf8').split('\n').filter(Boolean);
const write = (f: string, ls: string[]): void => writeFileSync(f, ls.map((l) => `${l}\n`).join(''));

/** 12 records, a checkpoint every 5 (after records 5 and 10). */
async function filled(dir: string): Promise<AuditLog> {
  const log = new AuditLog(dir, { checkpointEvery: 5 });
  for (let i = 0; i < 12; i++) await log.record({ actor: 'cli:test', action: i % 2 ? 'subject.enroll' : 'search.face', subject: `s${i}`, reason: `r${i}` });
  return log;
}

describe('audit log', () => {
  let dir: string;
  let f: ReturnType<typeof auditFiles>;
  beforeEach(async () => {
    dir = await tempDir('vigil-audit-');
    f = auditFiles(dir);
  });

  it('chains records, signs checkpoints, keeps files 0600, and an untouched log verifies', async () => {
    await filled(dir);
    const recs = lines(f.log).map((l) => JSON.parse(l) as AuditRecord);
    expect(recs.map((r) => r.seq)).toEqual([...Array(12).keys()]);
    expect(recs[0]!.prev).toBe('0'.repeat(64));
    for (let i = 1; i < 12; i++) expect(recs[i]!.prev).toBe(recs[i - 1]!.hash);
    expect(lines(f.checkpoints).map((l) => (JSON.parse(l) as { size: number }).size)).toEqual([1, 6, 11]);
    for (const p of [f.log, f.checkpoints, f.key]) expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(verifyAudit(dir)).toMatchObject({ ok: true, records: 12, checkpoints: 3, signedUpTo: 11 });
  });

  it('catches one edited byte, naming the record', async () => {
    await filled(dir);
    const ls = lines(f.log);
    ls[4] = ls[4]!.replace('"r4"', '"r5"');
    write(f.log, ls);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, record: 4, reason: expect.stringContaining('edited') });
  });

  it('catches a raw byte flip anywhere in a record', async () => {
    await filled(dir);
    const buf = readFileSync(f.log);
    const at = buf.indexOf('"actor"', lines(f.log).slice(0, 7).join('\n').length) + 2; // inside record 7
    buf[at] = buf[at]! ^ 0x01;
    writeFileSync(f.log, buf);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, record: 7 });
  });

  it('catches a deleted record', async () => {
    await filled(dir);
    const ls = lines(f.log);
    ls.splice(3, 1);
    write(f.log, ls);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, record: 3 });
  });

  it('catches two records swapped', async () => {
    await filled(dir);
    const ls = lines(f.log);
    [ls[8], ls[9]] = [ls[9]!, ls[8]!];
    write(f.log, ls);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, record: 8 });
  });

  it('catches a truncated tail through the signed checkpoints', async () => {
    await filled(dir);
    write(f.log, lines(f.log).slice(0, 8));
    const r = verifyAudit(dir);
    expect(r).toMatchObject({ ok: false, record: 8, reason: expect.stringContaining('truncated') });
  });

  it('catches a rollback to a rewritten, self-consistent chain', async () => {
    await filled(dir);
    // An attacker without the key rebuilds a clean 12-record chain with one record changed.
    const other = await tempDir('vigil-audit-forge-');
    const forged = new AuditLog(other, { checkpointEvery: 1000 });
    for (let i = 0; i < 12; i++) await forged.record({ actor: 'cli:test', action: 'search.face', subject: i === 2 ? 'nobody' : `s${i}`, reason: `r${i}` });
    writeFileSync(f.log, readFileSync(auditFiles(other).log));
    expect(verifyAudit(dir)).toMatchObject({ ok: false, reason: expect.stringContaining('rewritten or rolled back') });
  });

  it('catches a forged checkpoint and refuses a missing key', async () => {
    await filled(dir);
    const cps = lines(f.checkpoints);
    cps[1] = cps[1]!.replace('"size":6', '"size":5');
    write(f.checkpoints, cps);
    expect(verifyAudit(dir)).toMatchObject({ ok: false, reason: expect.stringContaining('bad signature') });
    unlinkSync(f.key);
    expect(() => verifyAudit(dir)).toThrow(/VIGIL_ERR_AUDIT_KEY_MISSING|signing key/);
    const log = new AuditLog(dir);
    await expect(log.record({ actor: 'a', action: 'b' })).rejects.toSatisfy((e: unknown) => isVigilError(e) && e.code === 'VIGIL_ERR_AUDIT_KEY_MISSING');
  });

  it('refuses to append after a torn last line, appending nothing', async () => {
    await filled(dir);
    const before = readFileSync(f.log, 'utf8');
    writeFileSync(f.log, before.slice(0, -10));
    await expect(new AuditLog(dir).record({ actor: 'a', action: 'b' })).rejects.toThrow(/complete line/);
    expect(readFileSync(f.log, 'utf8')).toBe(before.slice(0, -10));
  });

  it('filters by action prefix and time', async () => {
    await filled(dir);
    expect(readAudit(dir, { action: 'subject.enroll' })).toHaveLength(6);
    expect(readAudit(dir, { action: 'subject.' })).toHaveLength(6);
    expect(readAudit(dir, { since: '1h' })).toHaveLength(12);
    expect(readAudit(dir, { since: '2999-01-01T00:00:00Z' })).toHaveLength(0);
  });

  it('several processes appending at once keep one unforked chain', async () => {
    const script = `import { AuditLog } from ${JSON.stringify(join(repoRoot, 'src/audit/log.ts'))};
      const log = new AuditLog(process.argv.at(-1), { checkpointEvery: 7 });
      for (let i = 0; i < 25; i++) await log.record({ actor: 'proc:' + process.pid, action: 'test.concurrent', i });`;
    const run = () =>
      new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], { cwd: repoRoot, stdio: 'inherit' });
        p.on('close', resolve);
      });
    expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0]);
    expect(verifyAudit(dir)).toMatchObject({ ok: true, records: 75 });
  }, 60_000);
});
