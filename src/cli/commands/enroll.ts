import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { auditLogOf, cliActor } from '../../audit/log.js';
import { photoHashes } from '../../audit/photos.js';
import { bulkEnroll, formatBulkSummary, peopleFromCsv, peopleFromDir } from '../../matcher/bulk.js';
import { enrollWithReport, printable, validateSubjectFields, type FaceChoice } from '../../matcher/enroll.js';
import { WatchlistStore } from '../../matcher/watchlist.js';
import { matchThreshold } from '../../models/manifest.js';
import { openEngine } from '../../runtime.js';
import { announceWatchlist } from '../../services/watchlist.js';
import { err, out } from '../format.js';
import { setup } from '../setup.js';

interface EnrollOpts {
  name?: string;
  id?: string;
  face?: FaceChoice;
  list?: string[];
  expires?: string;
  dir?: string;
  csv?: string;
  maxPhotos?: number;
  detectSize?: number;
  profile?: string;
  reason?: string;
}

function parseFaceChoice(v: string): FaceChoice {
  if (v === 'largest' || v === 'auto') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use "largest" or a face number (1 = the largest)');
  return n;
}

/** `vigil enroll`: a person onto the watchlist from photos, or many people with --dir / --csv. */
export function register(program: Command): void {
  program
    .command('enroll')
    .description('add a person to the watchlist from one or more photos (a photo with several faces: the dominant one, or --face); or many people with --dir / --csv')
    .option('--name <name>', 'display name')
    .option('--id <id>', 'subject id (default: from the name); an existing id gets the photos added')
    .option('--face <which>', 'photos with several faces: "largest" or N (the N-th largest); default: the dominant face when unambiguous', parseFaceChoice)
    .option('--list <name...>', 'put the subject(s) on these lists')
    .option('--expires <date>', 'the subject stops matching after this date (e.g. 2027-01-31)')
    .option('--dir <folder>', 'bulk: one sub-folder per person (its name as the name), its photos inside; resumable')
    .option('--csv <file>', 'bulk: lines of id,name,list,photo[,photo...] (a header line first); resumable')
    .option('--max-photos <n>', 'bulk: at most n photos per person', (v) => Number(v))
    .option('--detect-size <px>', "letterbox photos to this size for detection (default: the profile's; 320 suits small photos such as 250 px LFW crops, 4x less work)", (v) => Number(v))
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .argument('[images...]', 'photos of the person')
    .action(async (images: string[], opts: EnrollOpts, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const bulk = opts.dir !== undefined || opts.csv !== undefined;
      if (!bulk && (opts.name === undefined || images.length === 0)) throw new InvalidArgumentError('give --name and one or more photos, or --dir / --csv');
      // Checked before the models load: a bad id or name costs nothing.
      validateSubjectFields({ id: opts.id, name: opts.name, lists: opts.list, expiresAt: opts.expires });
      const people = opts.dir !== undefined ? peopleFromDir(opts.dir, opts.list) : opts.csv !== undefined ? peopleFromCsv(opts.csv) : [];
      const store = await new WatchlistStore(cfg.dataDir).load();
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: true, detectSize: opts.detectSize });
      const duplicateThreshold = matchThreshold(engine.profile.profile, cfg.matcher).threshold;
      try {
        if (bulk) {
          const seq = store.head();
          const s = await bulkEnroll(engine, store, people, { face: opts.face, maxPhotos: opts.maxPhotos, duplicateThreshold, expiresAt: opts.expires, onProgress: progressReporter(err) });
          for (const l of formatBulkSummary(s)) out(printable(l));
          out(`the watchlist has ${store.count()} subject(s)`);
          const changed = [...new Set(store.changesSince(seq, 1e9).map((c) => c.subject))].flatMap((id) => (id && store.get(id) ? [{ op: 'upsert' as const, subject: store.get(id)! }] : []));
          const audited = await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.enroll.bulk', source: opts.dir ?? opts.csv ?? null, subjects: changed.map((c) => c.subject.id), photos: changed.flatMap((c) => c.subject.images.map((i) => i.sha256)), model: engine.model, reason: opts.reason ?? null });
          await announceWatchlist(cfg, log, changed, out, audited);
          return;
        }
        const req = { name: opts.name!, id: opts.id, files: images, face: opts.face, lists: opts.list, expiresAt: opts.expires };
        const { subject: s, warnings } = await enrollWithReport(engine, store, req, { duplicateThreshold });
        for (const w of warnings) err(`warning: ${printable(w.message)}`);
        out(`enrolled ${printable(s.name)} [${s.id}] from ${images.length} photo(s) with ${engine.model}; the watchlist has ${store.count()} subject(s)`);
        const audited = await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.enroll', subject: s.id, name: s.name, photos: await photoHashes(images), model: engine.model, reason: opts.reason ?? null });
        await announceWatchlist(cfg, log, [{ op: 'upsert', subject: s }], out, audited);
      } finally {
        await engine.close();
        store.close();
      }
    });
}

/** A progress bar on a terminal (cli-progress); elsewhere a line every 2% (logs stay readable). */
function progressReporter(line: (l: string) => void): (done: number, total: number, person: string) => void {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({ format: 'enrolling [{bar}] {value}/{total} photos | {rate} photos/s | eta {eta_formatted} | {person}', stream: process.stderr, hideCursor: true }, Presets.shades_classic);
    const t0 = Date.now();
    let started = false;
    return (done, total, person) => {
      if (!started) (bar.start(total, 0, { rate: '0', person: '' }), (started = true));
      bar.update(done, { rate: (done / Math.max(1e-3, (Date.now() - t0) / 1000)).toFixed(1), person: printable(person).slice(0, 30) });
      if (done === total) bar.stop();
    };
  }
  let last = -1;
  const t0 = Date.now();
  return (done, total) => {
    const pct = Math.floor((done / total) * 50);
    if (pct === last && done !== total) return;
    last = pct;
    line(`enrolling: ${done}/${total} photos (${((done / total) * 100).toFixed(0)}%), ${(done / Math.max(1e-3, (Date.now() - t0) / 1000)).toFixed(1)} photos/s`);
  };
}
