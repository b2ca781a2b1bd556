import type { MatchEvent } from '../contracts/messages.js';

/** One terminal line per alert: when, where, who, how sure, and the runner-up. */
export function alertLine(e: MatchEvent): string {
  const t = e.capturedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const media = e.mediaTime === null ? '' : ` t=${e.mediaTime.toFixed(1)}s`;
  const runnerUp = e.candidates[1] ? `, next ${e.candidates[1].subject.name} ${e.candidates[1].similarity.toFixed(2)}` : '';
  const [x1, y1, x2, y2] = e.box;
  return `ALERT ${t} camera=${e.camera}${media}  ${e.subject.name} [${e.subject.id}]  similarity ${e.similarity.toFixed(2)} (threshold ${e.threshold.toFixed(2)}${runnerUp})  face ${x2 - x1}x${y2 - y1}@${x1},${y1}  id ${e.id}`;
}

/** The public JSON form of an event (`vigil replay --json`, WebSocket): the event as is; crop optional. */
export function eventJson(e: MatchEvent, withCrop: boolean): string {
  if (withCrop) return JSON.stringify(e);
  const { crop: _crop, ...rest } = e;
  return JSON.stringify(rest);
}

/**
 * Keeps the terminal readable: the first match of a subject on a camera prints at once, repeats
 * within `windowMs` are counted and folded into the next printed line. Only the terminal is
 * throttled; every event still goes to WebSocket clients and --json output.
 */
export class ConsoleAlerts {
  readonly #last = new Map<string, { at: number; folded: number }>();
  readonly #windowMs: number;
  readonly #print: (line: string) => void;

  constructor(print: (line: string) => void, windowMs = 5000) {
    this.#print = print;
    this.#windowMs = windowMs;
  }

  onEvent(e: MatchEvent, now = Date.now()): void {
    const key = `${e.camera}\0${e.subject.id}`;
    const prev = this.#last.get(key);
    if (prev && now - prev.at < this.#windowMs) {
      prev.folded++;
      return;
    }
    const more = prev?.folded ? `  (+${prev.folded} more since last line)` : '';
    this.#last.set(key, { at: now, folded: 0 });
    this.#print(alertLine(e) + more);
  }
}
