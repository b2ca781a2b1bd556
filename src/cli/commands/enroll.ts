import type { Command } from 'commander';
import { enrollWithReport } from '../../matcher/enroll.js';
import { WatchlistStore } from '../../matcher/watchlist.js';
import { matchThreshold } from '../../models/manifest.js';
import { openEngine } from '../../runtime.js';
import { announceWatchlist } from '../../services/watchlist.js';
import { err, out } from '../format.js';
import { setup } from '../setup.js';

/** `vigil enroll`: a person onto the watchlist from photos. */
export function register(program: Command): void {
  program
    .command('enroll')
    .description('add a person to the watchlist from one or more photos (each must show exactly one face)')
    .requiredOption('--name <name>', 'display name')
    .option('--id <id>', 'subject id (default: from the name); an existing id gets the photos added')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .argument('<images...>', 'photos of the person')
    .action(async (images: string[], opts: { name: string; id?: string; profile?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const store = await new WatchlistStore(cfg.dataDir).load();
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: true });
      try {
        const { subject: s, warnings } = await enrollWithReport(engine, store, { name: opts.name, id: opts.id, files: images }, { duplicateThreshold: matchThreshold(engine.profile.profile, cfg.matcher).threshold });
        for (const w of warnings) err(`warning: ${w.message}`);
        out(`enrolled ${s.name} [${s.id}] from ${images.length} photo(s) with ${engine.model}; the watchlist has ${store.list().length} subject(s)`);
        await announceWatchlist(cfg, log, [{ op: 'upsert', subject: s }], out);
      } finally {
        await engine.close();
      }
    });
}
