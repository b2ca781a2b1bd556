import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { repoRoot } from '../helpers.js';

/** docs/openapi.yaml, parsed, and validators built from its own JSON Schemas (zod's fromJSONSchema). */
export interface Spec {
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: { 'application/json': { schema: unknown } } }> }>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, { content: { 'application/json': { schema: unknown } } }> };
}
export const spec = parse(readFileSync(join(repoRoot, 'docs', 'openapi.yaml'), 'utf8')) as Spec & { openapi: string };
const localRefs = (s: unknown): unknown => JSON.parse(JSON.stringify(s).replaceAll('#/components/schemas/', '#/$defs/'));
const defs = localRefs(spec.components.schemas) as Record<string, unknown>;

/** The documented response body of `method path status`, as a zod schema (throws when undocumented). */
export function responseSchema(path: string, method: string, status: number): z.ZodType {
  const r = spec.paths[path]?.[method]?.responses[String(status)];
  if (!r) throw new Error(`docs/openapi.yaml documents no ${status} for ${method.toUpperCase()} ${path}`);
  const resolved = r.$ref ? spec.components.responses[r.$ref.split('/').pop()!]! : r;
  const schema = resolved.content!['application/json'].schema;
  return z.fromJSONSchema({ $defs: defs, ...(localRefs(schema) as object) } as Parameters<typeof z.fromJSONSchema>[0]);
}

/** "GET /api/x/:id" for every documented operation. */
export const documentedRoutes = (): string[] => Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
