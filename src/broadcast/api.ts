import { extname } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import type { SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import type { WatchlistStore } from '../matcher/watchlist.js';
import type { AckState, EventStore, OperatorAction } from '../store/types.js';
import { boolParam, filterOf, intParam } from './filter.js';
import type { OperatingPoint } from './operating-point.js';
import type { ApiRoute } from './routes.js';

/**
 * Where /api/subjects reads the watchlist from: a page of subjects, given ones, and a path to each
 * enrollment photo. Never the whole list: a watchlist may hold a million subjects.
 */
export interface SubjectDirectory {
  page(limit: number, offset: number): { subjects: readonly Listed[]; total: number };
  get(id: string): Listed | undefined;
  /** File of an enrollment image, or undefined when it is not kept here. */
  photoPath(image: SubjectRecord['images'][number]): string | undefined;
}

/** What /api/subjects shows of a subject (never its vectors). */
type Listed = Omit<SubjectRecord, 'embeddings'>;

export function watchlistDirectory(w: WatchlistStore): SubjectDirectory {
  return {
    page: (limit, offset) => ({ subjects: w.search('', limit, offset), total: w.count() }),
    get: (id) => w.get(id),
    photoPath: (img) => w.imagePath(img.sha256, extname(img.name)),
  };
}

/** At most this many ids in one GET /api/subjects?ids=… */
const MAX_IDS = 500;

export interface EventApiDeps {
  readonly store: EventStore;
  readonly subjects?: SubjectDirectory;
  readonly operatingPoint: () => OperatingPoint;
  readonly status: () => { clients: number };
  /** Called after an operator's decision is stored (a dismissal teaches the matcher a negative example; the audit log records it). */
  readonly onAck?: (ack: OperatorAction) => void;
}

const ackBody = z.strictObject({
  state: z.enum(['acknowledged', 'confirmed', 'dismissed'] satisfies AckState[]),
  note: z.string().max(2000).nullable().optional(),
});

const THUMB = 96;
/** Thumbnails kept in memory (~4 KB each): the pages and alert cards in view, not a whole watchlist. */
const THUMBS_KEPT = 5000;

/** The event, camera, subject and status routes of the HTTP API (docs/openapi.yaml). */
export function eventRoutes(d: EventApiDeps): ApiRoute[] {
  const thumbs = new Map<string, string | null>();
  const thumbnail = async (s: Listed): Promise<string | null> => {
    const img = s.images[0];
    if (!img) return null;
    const have = thumbs.get(img.sha256);
    if (have !== undefined) return have;
    const path = d.subjects?.photoPath(img);
    const t = path
      ? await sharp(path, { limitInputPixels: 50_000_000 })
          .rotate()
          .resize(THUMB, THUMB, { fit: 'cover', position: 'attention' })
          .jpeg({ quality: 80 })
          .toBuffer()
          .then((b) => b.toString('base64'), () => null)
      : null;
    thumbs.set(img.sha256, t);
    if (thumbs.size > THUMBS_KEPT) thumbs.delete(thumbs.keys().next().value!); // the oldest
    return t;
  };

  return [
    {
      method: 'GET',
      path: '/api/events',
      role: 'viewer',
      async handle({ query }) {
        const after = query.get('after') || null;
        const before = query.get('before') || null;
        if (after && before) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: 'give after or before, not both' });
        const limit = intParam(query, 'limit', 100, 1, 1000);
        const filter = filterOf(query);
        const crops = boolParam(query, 'crops', false);
        const newestFirst = before !== null || boolParam(query, 'newest', false);
        const page = newestFirst ? await d.store.readBackward(before, limit, filter, { crops }) : await d.store.read(after, limit, filter, { crops });
        return { status: 200, body: { events: page.events, next: page.next } };
      },
    },
    {
      method: 'GET',
      path: '/api/events/:id',
      role: 'viewer',
      async handle({ params }) {
        const e = await d.store.get(params['id']!);
        if (!e) throw new VigilError('VIGIL_ERR_API_NOT_FOUND', { what: `event ${JSON.stringify(params['id']!.slice(0, 128))}` });
        return { status: 200, body: e };
      },
    },
    {
      method: 'POST',
      path: '/api/events/:id/ack',
      role: 'operator',
      async handle({ params, body, actor }) {
        const parsed = ackBody.safeParse(body);
        if (!parsed.success) {
          const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
          throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `ack body: ${reason} (expected {"state": "acknowledged"|"confirmed"|"dismissed", "note": string|null})` });
        }
        const e = await d.store.get(params['id']!);
        if (!e) throw new VigilError('VIGIL_ERR_API_NOT_FOUND', { what: `event ${JSON.stringify(params['id']!.slice(0, 128))}` });
        const ack: OperatorAction = { kind: 'ack', v: 1, eventId: e.id, state: parsed.data.state, note: parsed.data.note ?? null, actor: actor.name, at: new Date().toISOString(), camera: e.camera, subjectId: e.subject.id };
        const stored = await d.store.append(ack);
        d.onAck?.(ack);
        return { status: 201, body: stored };
      },
    },
    {
      method: 'GET',
      path: '/api/cameras',
      role: 'viewer',
      async handle() {
        return { status: 200, body: { cameras: await d.store.cameras() } };
      },
    },
    {
      method: 'GET',
      path: '/api/subjects',
      role: 'viewer',
      async handle({ query }) {
        // The subjects asked for by id (the console asks for those its alerts name), else a page.
        const ids = query.get('ids');
        let list: readonly Listed[] = [];
        let total = 0;
        if (ids !== null) {
          const want = [...new Set(ids.split(',').filter(Boolean))];
          if (want.length > MAX_IDS) throw new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `ids: ${want.length} given, at most ${MAX_IDS}` });
          list = want.flatMap((id) => d.subjects?.get(id) ?? []);
          total = list.length;
        } else {
          const limit = intParam(query, 'limit', 500, 1, 1000);
          const offset = intParam(query, 'offset', 0, 0, 999_999_999);
          if (d.subjects) ({ subjects: list, total } = d.subjects.page(limit, offset));
        }
        const subjects = await Promise.all(
          list.map(async (s) => ({ id: s.id, name: s.name, createdAt: s.createdAt, updatedAt: s.updatedAt, photos: s.images.length, thumbnail: await thumbnail(s) })),
        );
        return { status: 200, body: { subjects, total } };
      },
    },
    {
      method: 'GET',
      path: '/api/status',
      role: 'viewer',
      async handle({ actor }) {
        return { status: 200, body: { server: 'vigil', head: await d.store.head(), operatingPoint: d.operatingPoint(), clients: d.status().clients, role: actor.role, actor: actor.name } };
      },
    },
  ];
}
