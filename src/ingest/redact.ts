import { redactUrl } from '../log.js';

const SECRET_QUERY = /[?&](?:password|passwd|pwd|token|auth|key)=([^&#\s]*)/gi;

/** The secrets a URL holds: the password of its user info and secret query values, raw and decoded. */
export function secretsOf(url: string): string[] {
  const out = new Set<string>();
  const add = (s: string): void => {
    if (!s) return;
    out.add(s);
    try {
      out.add(decodeURIComponent(s));
    } catch {
      // not percent-encoded: the raw form is enough
    }
  };
  // Greedy up to the last "@" before the path: a password typed unencoded may hold "@", "#" or "?".
  const info = /^[a-z][a-z0-9+.-]*:\/\/([^/\s]*)@/i.exec(url)?.[1];
  if (info && info.includes(':')) add(info.slice(info.indexOf(':') + 1));
  for (const m of url.matchAll(SECRET_QUERY)) add(m[1]);
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * `text` without `url`'s credentials: its literal secrets first (ffmpeg may print a password decoded,
 * or a URL whose password holds an "@"), then any URL user info or secret query value left.
 * Secrets shorter than 3 characters are only removed inside URLs (replacing them everywhere would
 * mangle the text and hint at the password).
 */
export function redactSecrets(text: string, url: string): string {
  let out = text;
  for (const s of secretsOf(url)) if (s.length >= 3) out = out.split(s).join('***');
  return redactUrl(out);
}

/** A camera URL fit for logs, events and errors. */
export const safeUrl = (url: string): string => redactSecrets(url, url);
