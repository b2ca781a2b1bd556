import type { Command } from 'commander';
import { VigilError } from '../../errors.js';
import { reembed } from '../../matcher/enroll.js';
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
      if (store.list().length === 0) out('the watchlist is empty');
      for (const s of store.list()) {
        const models = [...new Set(s.embeddings.map((e) => e.model))].join(', ');
        out(`${s.id}\t${s.name}\t${s.images.length} image(s)\tmodels: ${models}\tupdated ${s.updatedAt}`);
      }
    });
  watchlist
    .command('remove')
    .argument('<id>', 'subject id')
    .description('remove a subject')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      if (!(await store.remove(id))) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: id });
      out(`removed ${id}`);
      await announceWatchlist(cfg, log, [{ op: 'remove', id }], out);
    });
  watchlist
    .command('reembed')
    .description('re-embed every subject from its stored photos with the current profile')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .action(async (opts: { profile?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: false });
      try {
        const done = await reembed(engine, store, { force: true });
        out(`re-embedded ${done.length} subject(s) with ${engine.model}`);
        await announceWatchlist(cfg, log, done.map((id) => ({ op: 'upsert' as const, subject: store.get(id)! })), out);
      } finally {
        await engine.close();
      }
    });
}
