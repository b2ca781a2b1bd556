/**
 * `vigil models list`: every profile, whether it is installed, and the license of each of its
 * models. The license text is printed in full, never abbreviated: the InsightFace weights are
 * non-commercial research only, and the user must see that before choosing a profile.
 */
import { modelOf, type Manifest } from './manifest.js';
import { installedStatus } from './store.js';

export type InstalledState = 'yes' | 'partial' | 'no';
export type ModelRole = 'detector' | 'regions' | 'landmarks' | 'recognizer';

export interface ProfileModelRow {
  readonly role: ModelRole;
  readonly id: string;
  readonly license: string;
  readonly installed: boolean;
  /** the profile runs without it (its region detector) */
  readonly optional?: boolean;
}

export interface ProfileRow {
  readonly profile: string;
  readonly description: string;
  readonly installed: InstalledState;
  readonly detector: string;
  readonly landmarker?: string;
  readonly recognizer: string;
  readonly threshold: number;
  readonly source: 'local' | 'npm';
  /** Each model of the profile, in pipeline order, with its license. */
  readonly models: readonly ProfileModelRow[];
}

/**
 * Verified by default (cheap after the first run thanks to .verified.json), so a corrupt file
 * shows as not installed instead of "yes".
 */
export async function describeProfiles(manifest: Manifest, modelsDir: string, opts: { verify?: boolean } = {}): Promise<ProfileRow[]> {
  const verify = opts.verify ?? true;
  const rows: ProfileRow[] = [];
  for (const name of Object.keys(manifest.profiles)) {
    const status = await installedStatus(manifest, modelsDir, name, { verify });
    const { resolved } = status;
    const ok = (id: string) => {
      const m = status.models[id]!; // status covers every model of the profile, as roles does
      return m.present && (!verify || m.checksumOk === true);
    };
    const roles: [ModelRole, string | undefined][] = [
      ['detector', resolved.profile.detector],
      ['regions', resolved.profile.regionDetector],
      ['landmarks', resolved.detector.landmarker],
      ['recognizer', resolved.profile.recognizer],
    ];
    const models = roles
      .filter((r): r is [ModelRole, string] => r[1] !== undefined)
      .map(([role, id]) => ({ role, id, license: modelOf(manifest, id).license, installed: ok(id), ...(status.models[id]!.optional ? { optional: true } : {}) }));
    // A missing optional model does not make the profile partial: it runs without it.
    const needed = models.filter((m) => !m.optional);
    const count = needed.filter((m) => m.installed).length;
    rows.push({
      profile: name,
      description: resolved.profile.description,
      installed: count === needed.length ? 'yes' : count === 0 ? 'no' : 'partial',
      detector: resolved.profile.detector,
      landmarker: resolved.detector.landmarker,
      recognizer: resolved.profile.recognizer,
      threshold: resolved.profile.threshold,
      source: resolved.profile.source,
      models,
    });
  }
  return rows;
}

const HEADER = ['PROFILE', 'INSTALLED', 'THRESHOLD', 'SOURCE', 'ROLE', 'MODEL', 'LICENSE'] as const;

/**
 * One line per model (a profile spans 2-3 lines) so each license sits next to its model; the
 * profile columns are filled on the profile's first line only.
 */
export function formatProfilesTable(rows: readonly ProfileRow[]): string {
  const lines: string[][] = [[...HEADER]];
  for (const r of rows) {
    r.models.forEach((m, i) => {
      const first = i === 0;
      lines.push([
        first ? r.profile : '',
        first ? r.installed : '',
        first ? r.threshold.toFixed(2) : '',
        first ? r.source : '',
        m.optional && !m.installed ? `${m.role} (optional, not installed)` : m.role,
        m.id,
        m.license,
      ]);
    });
  }
  const widths = HEADER.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  // The last column is not padded, so lines carry no trailing spaces.
  return lines.map((l) => l.map((cell, c) => (c === l.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n') + '\n';
}
