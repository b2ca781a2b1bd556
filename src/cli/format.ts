import type { MatchEvent } from '../contracts/messages.js';

/** Results on stdout (pipeable), everything else (progress, banners, errors) on stderr. */
export const out = (line: string): void => void process.stdout.write(`${line}\n`);
export const err = (line: string): void => void process.stderr.write(`${line}\n`);

/** One terminal line per alert or update: when, where, who, how sure, why, and the runner-up. */
export function alertLine(e: MatchEvent): string {
  const t = e.capturedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const media = e.mediaTime === null ? '' : ` t=${e.mediaTime.toFixed(1)}s`;
  const runnerUp = e.candidates.find((c) => c.subject.id !== e.subject.id);
  const next = runnerUp ? `, next ${runnerUp.subject.name} ${runnerUp.similarity.toFixed(2)}` : '';
  const [x1, y1, x2, y2] = e.box;
  const head = e.type === 'alert' ? 'ALERT ' : `UPDATE#${e.revision}`;
  const rel = e.related ? `  (also on ${e.related.camera}: ${e.related.id})` : '';
  return `${head} ${t} camera=${e.camera}${media}  ${e.subject.name} [${e.subject.id}]  similarity ${e.similarity.toFixed(2)} (threshold ${e.threshold.toFixed(2)}, ${e.rule}${next})  face ${x2 - x1}x${y2 - y1}@${x1},${y1}  alert ${e.id}${rel}`;
}

/** The public JSON form of an event (`vigil replay --json`, WebSocket): the event as is; crop optional. */
export function eventJson(e: MatchEvent, withCrop: boolean): string {
  if (withCrop) return JSON.stringify(e);
  const { crop: _crop, ...rest } = e;
  return JSON.stringify(rest);
}
