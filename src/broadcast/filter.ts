import { VigilError } from '../errors.js';
import { EVENT_TYPES } from '../store/events.js';
import type { EventFilter, StoredEvent } from '../store/types.js';

const ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Values of `key` and its plural, comma-separated or repeated (`camera=a,b` = `cameras=a&cameras=b`). */
function values(q: URLSearchParams, key: string): string[] {
  return [...q.getAll(key), ...q.getAll(`${key}s`)].flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** A filter from query parameters or a `subscribe` message; anything malformed is a VIGIL_ERR_API_BAD_REQUEST naming it. */
export function filterOf(src: URLSearchParams | Record<string, unknown>): EventFilter {
  const q = src instanceof URLSearchParams ? src : toQuery(src);
  const cameras = values(q, 'camera');
  const subjects = values(q, 'subject');
  const types = values(q, 'type');
  for (const [what, list] of [['camera', cameras], ['subject', subjects]] as const) {
    const bad = list.find((v) => !ID.test(v));
    if (bad !== undefined) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `${what} "${bad.slice(0, 64)}" is not an id (letters, digits, . _ : @ -, up to 128)` });
    if (list.length > 100) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `more than 100 ${what} values` });
  }
  const badType = types.find((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (badType !== undefined) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `type "${badType.slice(0, 64)}" is not one of ${EVENT_TYPES.join(', ')}` });
  return { ...(cameras.length && { cameras }), ...(subjects.length && { subjects }), ...(types.length && { types }) };
}

function toQuery(o: Record<string, unknown>): URLSearchParams {
  const q = new URLSearchParams();
  for (const key of ['cameras', 'subjects', 'types']) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `${key} must be an array of strings` });
    for (const x of v as string[]) q.append(key, x);
  }
  return q;
}

/** Whether a stored event passes a filter (the store's SQL applies the same rules to reads). */
export function passes(e: StoredEvent, f: EventFilter): boolean {
  const camera: string | undefined = e.camera;
  const subject = e.kind === 'match' || e.kind === 'sighting' ? e.subject.id : e.kind === 'ack' ? e.subjectId : undefined;
  const type = e.kind === 'match' ? e.type : e.kind;
  if (f.cameras && !(camera !== undefined && f.cameras.includes(camera))) return false;
  if (f.subjects && !(subject !== undefined && f.subjects.includes(subject))) return false;
  if (f.types && !f.types.includes(type)) return false;
  return true;
}

/** A positive integer query parameter within bounds, or the default. */
export function intParam(q: URLSearchParams, key: string, dflt: number, min: number, max: number): number {
  const raw = q.get(key);
  if (raw === null || raw === '') return dflt;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `${key} must be an integer from ${min} to ${max}, not "${raw.slice(0, 32)}"` });
  return Number(raw);
}

export function boolParam(q: URLSearchParams, key: string, dflt: boolean): boolean {
  const raw = q.get(key);
  if (raw === null || raw === '') return dflt;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `${key} must be true or false, not "${raw.slice(0, 32)}"` });
}
