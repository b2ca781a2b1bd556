import { Option, type Command } from 'commander';
import { describeProfiles, formatProfilesTable } from '../../models/list.js';
import { loadManifest } from '../../models/manifest.js';
import { pullProfile } from '../../models/pull.js';
import { localModelsOf, modelsDirOf } from '../../runtime.js';
import { err, out } from '../format.js';
import { setup } from '../setup.js';

/** `vigil models list | pull`. */
export function register(program: Command): void {
  const models = program.command('models').description('model profiles: list, install');
  models
    .command('list')
    .description('profiles, whether installed, and each model\'s license')
    .action(async (_o: unknown, cmd: Command) => {
      const { cfg } = setup(cmd);
      out(formatProfilesTable(await describeProfiles(loadManifest(), modelsDirOf(cfg))));
    });
  models
    .command('pull')
    .description('install a profile from the local models folder or the npm registry, verifying checksums')
    .argument('[profile]', 'profile name', 'research')
    .addOption(new Option('--from <channel>', 'where from (default: the profile\'s own channel)').choices(['local', 'npm']))
    .option('--force', 'reinstall even when installed files verify')
    .action(async (profile: string, opts: { from?: 'local' | 'npm'; force?: boolean }, cmd: Command) => {
      const { cfg } = setup(cmd);
      const s = await pullProfile(loadManifest(), { profile, modelsDir: modelsDirOf(cfg), from: opts.from, localDir: localModelsOf(cfg), force: opts.force, log: err });
      for (const m of s.models) out(`${m.action}\t${m.id}\t${m.file}\t${m.bytes} bytes`);
      out(`profile "${s.profile}" installed in ${s.modelsDir} (from ${s.from})`);
    });
}
