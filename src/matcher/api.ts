import { z } from 'zod';
import type { SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import type { FaceEngine } from '../inference/engine.js';
import type { ApiRoute } from '../broadcast/routes.js';
import { intParam } from '../broadcast/filter.js';
import { enrollWithReport, validateSubjectFields, type FaceChoice } from './enroll.js';
import { publishWatchlist, type WatchlistEdit } from '../services/watchlist.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { MatcherStage } from './stage.js';
import type { SubjectSummary, WatchlistStore } from './watchlist.js';

export interface WatchlistApiDeps {
  readonly store: WatchlistStore;
  /** The running engine (enrollment embeds with the model the matcher searches). */
  readonly engine: FaceEngine;
  /** The duplicate warning's threshold (the running operating point). */
  readonly threshold: number;
  /** Distributed mode: publish each change to the compacted watchlist topic (embedded: the follower picks it up from the database). */
  readonly publish?: (edits: readonly WatchlistEdit[]) => Promise<unknown>;
  /** The face behind a recent alert (MatcherStage.alertFace), for dismissals. */
  readonly alertFace?: (alertId: string) => { subject: string; embedding: Float32Array } | undefined;
  /** Audit hook: who did what to which subject. */
  readonly onChange?: (change: { op: 'enroll' | 'edit' | 'remove' | 'list' | 'dismiss'; subject: string; actor: string }) => void;
}

/** Photos as base64 in JSON: at most 20 per request, each at most ~15 MB decoded. */
const photo = z.strictObject({ name: z.string().min(1).max(200), data: z.base64().max(20_000_000) });
const addBody = z.strictObject({
  name: z.string(),
  id: z.string().optional(),
  lists: z.array(z.string()).max(50).optional(),
  expiresAt: z.string().optional(),
  face: z.union([z.literal('auto'), z.literal('largest'), z.number().int().min(1)]).optional(),
  photos: z.array(photo).min(1).max(20),
});
const listBody = z.strictObject({
  priority: z.number().int().default(0),
  colour: z.string().nullable().default(null),
  threshold: z.number().nullable().default(null),
  targetFpir: z.number().nullable().default(null),
});
const editBody = z.strictObject({
  name: z.string().optional(),
  lists: z.array(z.string()).max(50).optional(),
  expiresAt: z.string().nullable().optional(),
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: i.path.join('.') || 'body', reason: i.message });
  }
  return r.data;
}

/** A subject as the API shows it: no embedding vectors (biometric data stays in the store). */
export function subjectView(s: SubjectRecord | SubjectSummary): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    photos: s.images.map((i) => ({ sha256: i.sha256, name: i.name })),
    models: 'models' in s ? s.models : [...new Set(s.embeddings.map((e) => e.model))],
    lists: s.lists ?? [],
    expiresAt: s.expiresAt ?? null,
  };
}

/**
 * The watchlist admin API, mounted by the broadcast server's router: list/search and read for
 * viewers; add (photos base64 in JSON), edit (name, lists, expiry) and remove for admins. Every
 * write is a watchlist.db transaction; running matchers pick it up from the change log.
 */
export function watchlistRoutes(d: WatchlistApiDeps): ApiRoute[] {
  const changed = async (edit: Extract<WatchlistEdit, { op: 'upsert' | 'remove' }>, op: 'enroll' | 'edit' | 'remove', actor: string): Promise<void> => {
    d.onChange?.({ op, subject: edit.op === 'upsert' ? edit.subject.id : edit.id, actor });
    await d.publish?.([edit]);
  };
  const must = (id: string): SubjectRecord => {
    const s = d.store.get(id);
    if (!s) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: id });
    return s;
  };
  return [
    {
      method: 'GET',
      path: '/api/watchlist/subjects',
      role: 'viewer',
      handle({ query }) {
        const limit = intParam(query, 'limit', 50, 1, 500);
        const offset = intParam(query, 'offset', 0, 0, 999_999_999);
        const subjects = d.store.search(query.get('q') ?? '', limit, offset).map(subjectView);
        return { status: 200, body: { subjects, total: d.store.count() } };
      },
    },
    {
      method: 'GET',
      path: '/api/watchlist/subjects/:id',
      role: 'viewer',
      handle({ params }) {
        return { status: 200, body: subjectView(must(params.id!)) };
      },
    },
    {
      method: 'POST',
      path: '/api/watchlist/subjects',
      role: 'admin',
      async handle({ body, actor }) {
        const b = parse(addBody, body);
        const uploads = b.photos.map((p) => ({ name: p.name, bytes: Buffer.from(p.data, 'base64') }));
        const { subject, warnings } = await enrollWithReport(
          d.engine,
          d.store,
          { name: b.name, id: b.id, files: [], uploads, lists: b.lists, expiresAt: b.expiresAt, face: b.face as FaceChoice | undefined },
          { duplicateThreshold: d.threshold },
        );
        await changed({ op: 'upsert', subject }, 'enroll', actor.name);
        return { status: 201, body: { subject: subjectView(subject), warnings: warnings.map((w) => ({ kind: w.kind, message: w.message })) } };
      },
    },
    {
      method: 'PATCH',
      path: '/api/watchlist/subjects/:id',
      role: 'admin',
      async handle({ params, body, actor }) {
        const b = parse(editBody, body);
        validateSubjectFields({ name: b.name, lists: b.lists, expiresAt: b.expiresAt ?? undefined });
        const subject = d.store.write(() => {
          const s = must(params.id!);
          const { expiresAt: _old, ...rest } = s;
          const expiresAt = b.expiresAt === undefined ? s.expiresAt : b.expiresAt === null ? undefined : new Date(b.expiresAt).toISOString();
          const next: SubjectRecord = { ...rest, name: b.name ?? s.name, lists: b.lists ?? s.lists, ...(expiresAt ? { expiresAt } : {}), updatedAt: new Date().toISOString() };
          d.store.putInTx(next);
          return next;
        });
        await changed({ op: 'upsert', subject }, 'edit', actor.name);
        return { status: 200, body: subjectView(must(subject.id)) };
      },
    },
    {
      // An operator dismissed an alert as a false match: its face becomes a negative example of the subject.
      method: 'POST',
      path: '/api/watchlist/dismissals',
      role: 'operator',
      handle({ body, actor }) {
        const { alertId } = parse(z.strictObject({ alertId: z.string().min(1).max(100) }), body);
        const face = d.alertFace?.(alertId);
        if (!face) throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: 'alertId', reason: `no recent alert ${alertId} in this matcher (its face is kept for the last 10000 alerts)` });
        if (!d.store.addNegative(face.subject, d.engine.model, face.embedding, `alert:${alertId}`)) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: face.subject });
        d.onChange?.({ op: 'dismiss', subject: face.subject, actor: actor.name });
        return { status: 201, body: { subject: face.subject, alertId } };
      },
    },
    {
      method: 'GET',
      path: '/api/watchlist/lists',
      role: 'viewer',
      handle() {
        return { status: 200, body: { lists: d.store.lists() } };
      },
    },
    {
      method: 'PUT',
      path: '/api/watchlist/lists/:name',
      role: 'admin',
      async handle({ params, body, actor }) {
        const l = { name: params.name!, ...parse(listBody, body) };
        d.store.putList(l);
        d.onChange?.({ op: 'list', subject: l.name, actor: actor.name });
        await d.publish?.([{ op: 'list', list: l }]);
        return { status: 200, body: l };
      },
    },
    {
      method: 'DELETE',
      path: '/api/watchlist/subjects/:id',
      role: 'admin',
      async handle({ params, actor }) {
        const id = params.id!;
        if (!(await d.store.remove(id))) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: id });
        await changed({ op: 'remove', id }, 'remove', actor.name);
        return { status: 200, body: { removed: id } };
      },
    },
  ];
}

/**
 * The deps of {@link watchlistRoutes} for a running Vigil: its store and engine, the operating
 * point, the matcher's recent alert faces (dismissals) and, in the distributed mode, publishing
 * to the compacted watchlist topic. Mounting: `routes: [watchlistRoutes(watchlistApiDeps(...))]`.
 */
export function watchlistApiDeps(o: {
  readonly cfg: Config;
  readonly log: Logger;
  readonly store: WatchlistStore;
  readonly engine: FaceEngine;
  readonly threshold: number;
  readonly matcher?: Pick<MatcherStage, 'alertFace'>;
  readonly onChange?: WatchlistApiDeps['onChange'];
}): WatchlistApiDeps {
  return {
    store: o.store,
    engine: o.engine,
    threshold: o.threshold,
    alertFace: o.matcher && ((id) => o.matcher!.alertFace(id)),
    publish: o.cfg.bus.kafka ? (edits) => publishWatchlist(o.cfg, o.log, edits) : undefined,
    onChange: o.onChange,
  };
}

/**
 * An operator dismissed alert `alertId` as a false match (POST /api/events/:id/ack): the face behind
 * it is kept as a negative example for that subject, so the same look-alike does not alert again at a
 * similar similarity. The matcher keeps the faces of its recent alerts; an older alert is only logged.
 */
export function learnFromDismissal(store: WatchlistStore, model: string, matcher: Pick<MatcherStage, 'alertFace'>, alertId: string, log: Logger): boolean {
  const face = matcher.alertFace(alertId);
  if (!face) {
    log.info({ alertId }, 'dismissed alert is no longer in the matcher; no negative example kept');
    return false;
  }
  const kept = store.addNegative(face.subject, model, face.embedding, `alert:${alertId}`);
  if (kept) log.info({ alertId, subject: face.subject }, 'dismissed face kept as a negative example');
  return kept;
}
