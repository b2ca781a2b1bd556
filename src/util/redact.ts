/**
 * The one credential redactor: every camera URL, ffmpeg message, status event, log line, start banner
 * and config error goes through it. Two layers:
 *
 * - the literal secrets of a known URL (its password, however it is written, and every
 *   credential-like query value), raw, decoded and encoded, removed wherever they appear;
 * - any URL in any text: the password of its user info and credential-like query values.
 *
 * A password may hold any character: the user info runs to the last "@" that a host name follows,
 * so "/", "@", ":", "%", "#" and "?" in it are hidden whole. When that is ambiguous (an "@" in a
 * path) it hides too much rather than too little.
 */

/** Query, fragment or YAML key names whose values are credentials (case-insensitive, anywhere in the name). */
const SECRET_NAME = /pass|pwd|token|secret|key|auth|sig|credential|session|jwt|bearer|cookie/i;

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
// What follows the user info: a host name or [IPv6] literal, an optional port, then the path, query, fragment or end.
const HOST_AFTER = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(?::\d*)?(?=[/?#\s"'<>]|$)/i;
const PARAM = /([?&#;])([^=&#;?\s"'<>]+)=([^&#;\s"'<>]*)/g;

/** The span of a URL's user info (after "scheme://", up to the "@" before its host), or null. */
function userInfoSpan(url: string): { start: number; end: number } | null {
  const m = SCHEME.exec(url);
  if (!m) return null;
  const start = m[0].length;
  for (let at = url.lastIndexOf('@'); at >= start; at = url.lastIndexOf('@', at - 1)) {
    if (HOST_AFTER.test(url.slice(at + 1))) return { start, end: at };
  }
  return null;
}

function variants(s: string): string[] {
  const out = [s];
  try {
    out.push(decodeURIComponent(s));
  } catch {
    // not percent-encoded: the raw form is enough
  }
  out.push(encodeURIComponent(s));
  return out;
}

/** The secrets a URL holds: its user info's password and credential-like query values, raw, decoded and encoded, longest first. */
export function secretsOf(url: string): string[] {
  const out = new Set<string>();
  const add = (s: string): void => {
    if (s) for (const v of variants(s)) if (v) out.add(v);
  };
  const span = userInfoSpan(url);
  if (span) {
    const info = url.slice(span.start, span.end);
    if (info.includes(':')) add(info.slice(info.indexOf(':') + 1));
  }
  for (const [, , name = '', value = ''] of url.matchAll(PARAM)) if (SECRET_NAME.test(name)) add(value);
  return [...out].sort((a, b) => b.length - a.length);
}

/** One URL with its password and credential-like query values replaced by "***". */
function redactOneUrl(url: string): string {
  let out = url;
  const span = userInfoSpan(out);
  if (span) {
    const info = out.slice(span.start, span.end);
    const colon = info.indexOf(':');
    if (colon >= 0) out = `${out.slice(0, span.start)}${info.slice(0, colon)}:***${out.slice(span.end)}`;
  }
  return out.replace(PARAM, (m: string, sep: string, name: string) => (SECRET_NAME.test(name) ? `${sep}${name}=***` : m));
}

/** Every URL in `text` redacted (no URL known in advance: log lines, config errors). */
export function redactUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, redactOneUrl);
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
  return redactUrls(out);
}

/** A camera URL fit for logs, events, errors and the start banner. */
export const safeUrl = (url: string): string => redactSecrets(url, url);

/**
 * A message quoting a config file (a YAML syntax error shows the offending line) with the file's
 * secrets removed: those of every URL in it and the values of credential-named keys (password:, token:).
 */
export function redactConfigText(message: string, fileText: string): string {
  let out = message;
  const urls = fileText.match(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi) ?? [];
  for (const u of urls) out = redactSecrets(out, u);
  for (const m of fileText.matchAll(/^[\s-]*["']?([A-Za-z0-9_.-]+)["']?\s*:\s*["']?([^"'\n#]+?)["']?\s*(?:#.*)?$/gm)) {
    const [, key = '', raw = ''] = m;
    const value = raw.trim();
    if (SECRET_NAME.test(key) && value.length >= 3) out = out.split(value).join('***');
  }
  return redactUrls(out);
}
