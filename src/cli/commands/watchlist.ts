import type { Command } from 'commander';
import { auditLogOf, cliActor } from '../../audit/log.js';
import { VigilError } from '../../errors.js';
import { printable, reembed } from '../../matcher/enroll.js';
import { WatchlistStore } from '../../matcher/watchlist.js';
import { openEngine } from '../../runtime.js';
import { announceWatchlist } from '../../services/watchlist.js';
import { out } from '../format.js';
import { setup } from '../setup.js';

/** `vigil watchlist list | remove | reembed`. */
export function register(program: Command): void {
  const watchlist = program.command('watchlist').description('inspect and change the watchlist');
  watchlist
    .command('list')
    .description('list enrolled subjects')
    .action(async (_o: unknown, cmd: Command) => {
      const { cfg } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      if (store.count() === 0) out('the watchlist is empty');
      for (const s of store.list()) {
        const models = [...new Set(s.embeddings.map((e) => e.model))].join(', ');
        const lists = s.lists?.length ? `\tlists: ${s.lists.join(', ')}` : '';
        const expires = s.expiresAt ? `\texpires ${s.expiresAt}` : '';
        out(`${s.id}\t${printable(s.name)}\t${s.images.length} image(s)\tmodels: ${models}${lists}${expires}\tupdated ${s.updatedAt}`);
      }
      store.close();
    });
  watchlist
    .command('remove')
    .argument('<id>', 'subject id')
    .description('remove a subject (its photos and embeddings are deleted)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const photos = store.get(id)?.images.map((i) => i.sha256) ?? [];
      if (!(await store.remove(id))) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: printable(id) });
      store.close();
      out(`removed ${id} (its photos and embeddings deleted; a running Vigil stops matching it within a second)`);
      const audited = await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.remove', subject: id, photos, reason: opts.reason ?? null });
      await announceWatchlist(cfg, log, [{ op: 'remove', id }], out, audited);
    });
  watchlist
    .command('lists')
    .description('show the watchlists: priority, colour, operating point, members')
    .action(async (_o: unknown, cmd: Command) => {
      const { cfg } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const lists = store.lists();
      if (lists.length === 0) out("no lists (every subject matches at the profile's threshold)");
      for (const l of lists) {
        const members = store.db.prepare('SELECT count(*) FROM subject_lists WHERE list = ?').pluck().get(l.name) as number;
        const op = l.threshold !== null ? `threshold ${l.threshold}` : l.targetFpir !== null ? `target FPIR ${l.targetFpir}` : 'default threshold';
        out(`${l.name}\tpriority ${l.priority}\tcolour ${l.colour ?? '-'}\t${op}\t${members} subject(s)`);
      }
      store.close();
    });
  watchlist
    .command('set-list')
    .argument('<name>', 'list name')
    .description('create or change a list: its priority, colour and operating point (a running Vigil applies it within a second)')
    .option('--priority <n>', 'higher: more urgent', (v) => Number(v))
    .option('--colour <c>', 'console colour, e.g. "#d33"')
    .option('--threshold <t>', 'cosine similarity at which its subjects match', (v) => Number(v))
    .option('--target-fpir <f>', "or: false-positive identification rate, mapped through the profile's calibration table", (v) => Number(v))
    .action(async (name: string, o: { priority?: number; colour?: string; threshold?: number; targetFpir?: number }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const was = store.lists().find((l) => l.name === name);
      const opPoint = o.threshold !== undefined || o.targetFpir !== undefined ? { threshold: o.threshold ?? null, targetFpir: o.threshold !== undefined ? null : (o.targetFpir ?? null) } : { threshold: was?.threshold ?? null, targetFpir: was?.targetFpir ?? null };
      const list = { name, priority: o.priority ?? was?.priority ?? 0, colour: o.colour ?? was?.colour ?? null, ...opPoint };
      store.putList(list);
      store.close();
      out(`list ${name} saved`);
      await announceWatchlist(cfg, log, [{ op: 'list', list }], out);
    });
  watchlist
    .command('reembed')
    .description('re-embed every subject from its stored photos with the current profile')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (opts: { profile?: string; reason?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: false });
      try {
        const done = await reembed(engine, store, { force: true });
        out(`re-embedded ${done.length} subject(s) with ${engine.model}`);
        const audited = await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.reembed', subjects: done, photos: done.flatMap((id) => store.get(id)?.images.map((i) => i.sha256) ?? []), model: engine.model, reason: opts.reason ?? null });
        await announceWatchlist(cfg, log, done.map((id) => ({ op: 'upsert' as const, subject: store.get(id)! })), out, audited);
      } finally {
        await engine.close();
      }
    });
}
