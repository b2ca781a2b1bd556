import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { redactConfigText } from '../util/redact.js';
import { configSchema, kafkaSchema, type Config } from './schema.js';

/**
 * Whether a placeholder at `offset` of a URL template is in its user info or its query, where a
 * value must be percent-encoded ("p@ss/w:rd#" would otherwise end the user info or the URL early).
 * In the host or path it is substituted as it is (a host, a port, a path with "/").
 */
function encodedAt(template: string, offset: number): boolean {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(template);
  if (!scheme) return false;
  const start = scheme[0].length;
  const rest = template.slice(start).search(/[/?#]/);
  const end = rest < 0 ? template.length : start + rest;
  if (offset >= start && offset < end) return template.lastIndexOf('@', end) > offset;
  const query = template.indexOf('?', start);
  return query >= 0 && offset > query;
}

/**
 * Only {VIGIL_*} placeholders are substituted, so secrets stay in the environment (Frigate's habit).
 * Inside a URL's user info or query the value is percent-encoded, so a password may hold any character.
 */
function substitute(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{(VIGIL_[A-Z0-9_]+)\}/g, (_m, name: string, offset: number) => {
      const v = env[name];
      if (v === undefined) problems.push(`${path}: environment variable ${name} is not set`);
      return v === undefined ? '' : encodedAt(value, offset) ? encodeURIComponent(v) : v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, `${path}[${i}]`, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, path ? `${path}.${k}` : k, problems)]));
  }
  return value;
}

/** Config keys whose value must be a {VIGIL_*} placeholder: a secret is never written in the file itself. */
const PLACEHOLDER_ONLY: readonly (readonly string[])[] = [['bus', 'kafka', 'sasl', 'password']];

function secretsAsPlaceholders(raw: unknown): string[] {
  const problems: string[] = [];
  for (const path of PLACEHOLDER_ONLY) {
    let v: unknown = raw;
    for (const k of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    if (typeof v === 'string' && !/^\{VIGIL_[A-Z0-9_]+\}$/.test(v)) {
      problems.push(`${path.join('.')}: write it as a {VIGIL_*} placeholder (e.g. "{VIGIL_KAFKA_PASSWORD}") and put the secret in that environment variable`);
    }
  }
  return problems;
}

export function formatIssues(err: z.ZodError): string[] {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Validates a raw object (from a file or code); throws VIGIL_ERR_CONFIG_INVALID naming each bad key. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  problems.push(...secretsAsPlaceholders(raw));
  const substituted = substitute(raw ?? {}, env, '', problems);
  const res = configSchema.safeParse(substituted);
  if (!res.success) problems.push(...formatIssues(res.error));
  if (problems.length || !res.success) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: problems.join('; ') });
  const cfg = res.data;
  if (env.VIGIL_SHARED_DIR) cfg.sharedDir = env.VIGIL_SHARED_DIR;
  if (env.VIGIL_DATA_DIR) cfg.dataDir = env.VIGIL_DATA_DIR;
  if (env.VIGIL_PROFILE) cfg.models.profile = env.VIGIL_PROFILE;
  if (env.KAFKA_BROKERS) {
    // KAFKA_BROKERS alone turns the distributed mode on, with the schema's defaults for the rest.
    const brokers = env.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean);
    const k = kafkaSchema.safeParse({ ...(cfg.bus.kafka ?? {}), brokers });
    if (k.success) cfg.bus.kafka = k.data;
    else problems.push(...formatIssues(k.error).map((p) => `KAFKA_BROKERS (${p.replace(/^brokers\.?/, 'entry ')})`));
  }
  const ids = new Set<string>();
  for (const [i, c] of cfg.cameras.entries()) {
    if (ids.has(c.id)) problems.push(`cameras[${i}].id: duplicate camera id "${c.id}"`);
    ids.add(c.id);
  }
  if (problems.length) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: problems.join('; ') });
  cfg.dataDir = resolve(cfg.dataDir);
  cfg.sharedDir = resolve(cfg.sharedDir);
  return deepFreeze(cfg);
}

/** Reads YAML or JSON (JSON is YAML). No file: all defaults. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (!file) return parseConfig({}, env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VigilError('VIGIL_ERR_CONFIG_READ', { file, reason: (err as Error).message }, err);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    // The YAML error quotes the offending line, which may hold a camera URL with its password.
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: `${file}: ${redactConfigText((err as Error).message, text)}` });
  }
  return parseConfig(raw, env);
}
