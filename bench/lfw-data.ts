import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VigilError } from '../src/errors.js';

/**
 * Labeled Faces in the Wild, as laid out in ../shared/data/lfw: `<Name>/<Name>_<NNNN>.jpg` and the
 * official protocol files in `_meta/`. Images are named by their path relative to the LFW folder.
 */
export interface LfwPair {
  readonly a: string;
  readonly b: string;
  readonly same: boolean;
}

export const lfwImage = (name: string, n: number): string => `${name}/${name}_${String(n).padStart(4, '0')}.jpg`;

/** Throws VIGIL_ERR_BENCH_DATA unless `dir` looks like the LFW folder (pairs.txt + person folders). */
export function requireLfw(dir: string): void {
  if (!existsSync(join(dir, '_meta', 'pairs.txt'))) {
    throw new VigilError('VIGIL_ERR_BENCH_DATA', { dir, reason: 'no _meta/pairs.txt (expected the LFW folder of ../shared/data/lfw)' });
  }
}

/**
 * View 2 (`pairs.txt`): a header "folds pairsPerClass", then per fold `pairsPerClass` same-person
 * lines (`name i j`) followed by as many different-person lines (`name1 i name2 j`).
 */
export function parsePairs(text: string, file = 'pairs.txt'): LfwPair[][] {
  const bad = (reason: string): never => {
    throw new VigilError('VIGIL_ERR_BENCH_DATA', { dir: file, reason });
  };
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const [folds, per] = lines[0]!.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(folds) || !Number.isInteger(per) || folds! < 1 || per! < 1) bad(`bad header "${lines[0]}"`);
  if (lines.length - 1 !== folds! * per! * 2) bad(`header promises ${folds! * per! * 2} pairs, found ${lines.length - 1}`);
  const out: LfwPair[][] = [];
  for (let f = 0; f < folds!; f++) {
    const fold: LfwPair[] = [];
    for (let k = 0; k < 2 * per!; k++) {
      const line = lines[1 + f * 2 * per! + k]!;
      const t = line.trim().split(/\s+/);
      if (t.length === 3) fold.push({ a: lfwImage(t[0]!, Number(t[1])), b: lfwImage(t[0]!, Number(t[2])), same: true });
      else if (t.length === 4) fold.push({ a: lfwImage(t[0]!, Number(t[1])), b: lfwImage(t[2]!, Number(t[3])), same: false });
      else bad(`cannot read line "${line}"`);
    }
    out.push(fold);
  }
  return out;
}

export async function readPairs(dir: string): Promise<LfwPair[][]> {
  requireLfw(dir);
  const file = join(dir, '_meta', 'pairs.txt');
  return parsePairs(await readFile(file, 'utf8'), file);
}

/** Every person and their images (relative paths, sorted), people sorted by name. */
export async function listPeople(dir: string): Promise<Map<string, string[]>> {
  requireLfw(dir);
  const people = new Map<string, string[]>();
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('_')).map((e) => e.name).sort();
  for (const name of names) {
    const files = (await readdir(join(dir, name))).filter((f) => /\.jpe?g$/i.test(f)).sort();
    if (files.length) people.set(name, files.map((f) => `${name}/${f}`));
  }
  return people;
}

/**
 * LFW files some people under two names. An "impostor" probe of the second name then matches the
 * first as it should, and the open-set benchmark would count that as a false alert (at FPIR 0.1% the
 * threshold would sit among these). Found by comparing every pair of names with the research profile
 * (best cross-name similarity > 0.5, tools in docs/accuracy.md), then kept only where the names are
 * spellings of one person or the photos were looked at and are one photo/one man. Look-alikes and
 * twins (the Olsen, Mowry and Phelps twins) stay apart: telling them apart is the matcher's problem.
 */
export const LFW_SAME_PERSON: readonly (readonly [string, string])[] = [
  // one person, two spellings or names
  ['Joseph_Blatter', 'Sepp_Blatter'],
  ['Choi_Sung-hong', 'Sung_Hong_Choi'],
  ['Noer_Moeis', 'Noer_Muis'],
  ['Hassan_Wirajuda', 'Hasan_Wirayuda'],
  ['Wang_Nan', 'Nan_Wang'],
  ['Mireya_Moscoso', 'Mireya_Elisa_Moscoso_Rodriguez'],
  ['Chyung_Dai-chul', 'Dai_Chul_Chyung'],
  ['Glenn_Rivers', 'Doc_Rivers'],
  ['Prince_Felipe', 'Felipe_De_Borbon'],
  ['Wang_Yingfan', 'Yingfan_Wang'],
  ['William_Pryor_Jr', 'Bill_Pryor'],
  ['Virgina_Ruano_Pascal', 'Ruano_Pascual'],
  ['Talisa_Soto', 'Talisa_Bratt'],
  ['Jon_Gruden', 'John_Gruden'],
  ['Cristina_Fernandez', 'Cristina_Kirchner'],
  ['Uday_Hussein', 'Odai_Hussein'],
  // the same photo (or the same man at the same event) filed under two names
  ['Bart_Hendricks', 'Ricky_Ray'],
  ['Carlos_Beltran', 'Raul_Ibanez'],
  ['Emmy_Rossum', 'Eva_Amurri'],
  ['Martha_Bowen', 'Gabrielle_Rose'],
  ['Andrew_Caldecott', 'Andrew_Gilligan'],
  ['Shinya_Taniguchi', 'Takahiro_Mori'],
];

/** People with {@link LFW_SAME_PERSON} merged under the first name; also returns how many merges applied. */
export function mergeSamePerson(people: ReadonlyMap<string, readonly string[]>): { people: Map<string, string[]>; merged: number } {
  const out = new Map([...people.entries()].map(([k, v]) => [k, [...v]]));
  let merged = 0;
  for (const [keep, alias] of LFW_SAME_PERSON) {
    const a = out.get(keep);
    const b = out.get(alias);
    if (!a || !b) continue;
    out.set(keep, [...a, ...b].sort());
    out.delete(alias);
    merged++;
  }
  return { people: out, merged };
}
