import type { Command } from 'commander';
import { auditTopicOf, showAuditTopic, verifyAuditTopic, withAuditTopic } from '../../audit/kafka.js';
import { auditFiles, auditLogOf, readAudit, verifyAudit, type AuditRecord } from '../../audit/log.js';
import { kafkaConfigOf } from '../../services/kafka-config.js';
import { VigilError } from '../../errors.js';
import { setup } from '../setup.js';

import { out } from '../format.js';

/** One terminal line per record: seq, time, actor, action, then the details as key=value. */
export function auditLine(r: AuditRecord): string {
  const { seq, at, actor, action, prev: _p, hash: _h, ...details } = r;
  const d = Object.entries(details).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [String(seq).padStart(6), at, actor, action, ...d].join('  ');
}

export function register(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log: who did what (enrollments, removals, searches, exports)');
  audit
    .command('verify')
    .description('recompute the hash chain and check the signed checkpoints; exits non-zero naming the first bad record')
    .option('--kafka', "the distributed mode's audit topic (bus.kafka) instead of <dataDir>/audit.jsonl; the key is <dataDir>/audit.key")
    .action(async (o: { kafka?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      const where = o.kafka ? `Kafka topic ${auditTopicOf(kafkaConfigOf(cfg, 'audit verify --kafka'))}` : auditLogOf(cfg).files.log;
      const r = o.kafka ? await withAuditTopic(cfg, log, (t) => verifyAuditTopic(t, auditFiles(cfg.dataDir).key)) : verifyAudit(cfg.dataDir);
      if (!r.ok) throw new VigilError('VIGIL_ERR_AUDIT_TAMPERED', { file: where, record: o.kafka ? `#${r.record}` : `#${r.record} (line ${r.line})`, reason: r.reason });
      const tail = r.records - r.signedUpTo;
      out(`audit ${o.kafka ? `topic ${where.replace('Kafka topic ', '')}` : 'log'} OK: ${r.records} record(s), head ${r.head.slice(0, 16)}…, ${r.checkpoints} signed checkpoint(s)${r.lastCheckpointAt ? `, the last at ${r.lastCheckpointAt} covering ${r.signedUpTo}` : ''}${tail ? `; ${tail} record(s) after it are chained but not yet signed` : ''}`);
    });
  audit
    .command('show')
    .description('print audit records, oldest first')
    .option('--action <action>', 'only this action ("subject.enroll"), or a prefix ending in "." ("subject.")')
    .option('--actor <actor>', 'only this actor ("cli:alice")')
    .option('--since <time>', 'ISO time, or a span back from now: 30m, 12h, 7d')
    .option('--json', 'one JSON record per line')
    .option('--kafka', "the distributed mode's audit topic (bus.kafka) instead of <dataDir>/audit.jsonl")
    .action(async (opts: { action?: string; actor?: string; since?: string; json?: boolean; kafka?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      const filter = { action: opts.action, actor: opts.actor, since: opts.since };
      const recs = opts.kafka ? await withAuditTopic(cfg, log, (t) => showAuditTopic(t, filter)) : readAudit(cfg.dataDir, filter);
      for (const r of recs) out(opts.json ? JSON.stringify(r) : auditLine(r));
      if (!opts.json && recs.length === 0) out('no audit records match');
    });
}
