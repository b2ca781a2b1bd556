import { VigilError } from '../errors.js';

/** A watchlist: how urgent its matches are and at which operating point they alert. */
export interface ListRecord {
  readonly name: string;
  /** higher: more urgent (events carry it; the console sorts by it) */
  readonly priority: number;
  /** CSS colour for the console, e.g. "#d33" */
  readonly colour: string | null;
  /** cosine similarity at which this list's subjects match (wins over targetFpir) */
  readonly threshold: number | null;
  /** or: the false-positive identification rate wanted, mapped through the profile's calibration table */
  readonly targetFpir: number | null;
}

export interface ListMatch {
  readonly threshold: number;
  /** the most urgent of the subject's lists whose threshold the similarity meets */
  readonly list?: { readonly name: string; readonly priority: number };
}

const COLOUR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$/;

/** Checks a list's settings; throws VIGIL_ERR_WATCHLIST_INVALID naming the field. */
export function validateList(l: ListRecord): void {
  const bad = (field: string, reason: string): never => {
    throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field, reason });
  };
  if (!/^[A-Za-z0-9][\w.-]{0,127}$/.test(l.name)) bad('list', 'use 1-128 letters, digits, "_", "." or "-"');
  if (!Number.isInteger(l.priority) || Math.abs(l.priority) > 1000) bad('priority', 'a whole number from -1000 to 1000');
  if (l.colour !== null && !COLOUR.test(l.colour)) bad('colour', 'a #rgb / #rrggbb value or a colour name');
  if (l.threshold !== null && !(l.threshold > -1 && l.threshold < 1)) bad('threshold', 'a cosine similarity between -1 and 1');
  if (l.targetFpir !== null && !(l.targetFpir > 0 && l.targetFpir < 1)) bad('targetFpir', 'a rate between 0 and 1, e.g. 0.001');
}

/**
 * Each list's operating point and priority, for the matcher. A subject on several lists matches at
 * the lowest of their thresholds (any list that wants it alerts), and its event names the most
 * urgent list whose threshold the face met. A subject on no list (or on lists without an operating
 * point) matches at the default threshold.
 */
export class ListPolicy {
  #lists = new Map<string, ListRecord & { at: number }>();

  constructor(
    readonly defaultThreshold: number,
    /** target FPIR -> threshold, from the running profile's calibration table */
    private readonly fromFpir: (fpir: number) => number,
  ) {}

  update(lists: readonly ListRecord[]): void {
    this.#lists = new Map(lists.map((l) => [l.name, { ...l, at: this.#thresholdOf(l) }]));
  }

  /** Creates or replaces one list's settings (the distributed matcher gets them one by one from the watchlist topic). */
  put(l: ListRecord): void {
    this.#lists.set(l.name, { ...l, at: this.#thresholdOf(l) });
  }

  #thresholdOf(l: ListRecord): number {
    return l.threshold ?? (l.targetFpir !== null ? this.fromFpir(l.targetFpir) : this.defaultThreshold);
  }

  get(name: string): (ListRecord & { at: number }) | undefined {
    return this.#lists.get(name);
  }

  /** The threshold a subject on `lists` matches at. */
  thresholdFor(lists: readonly string[] | undefined): number {
    if (!lists?.length) return this.defaultThreshold;
    let t = Infinity;
    for (const n of lists) t = Math.min(t, this.#lists.get(n)?.at ?? this.defaultThreshold);
    return t;
  }

  /** The list an event at `similarity` is reported under. */
  match(lists: readonly string[] | undefined, similarity: number): ListMatch {
    const threshold = this.thresholdFor(lists);
    let best: (ListRecord & { at: number }) | undefined;
    for (const n of lists ?? []) {
      const l = this.#lists.get(n);
      if (!l || similarity < l.at) continue;
      if (!best || l.priority > best.priority || (l.priority === best.priority && l.name < best.name)) best = l;
    }
    return { threshold, ...(best ? { list: { name: best.name, priority: best.priority } } : {}) };
  }
}
