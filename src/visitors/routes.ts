import { z } from 'zod';
import { intParam } from '../broadcast/filter.js';
import type { ApiRoute } from '../broadcast/routes.js';
import { VigilError } from '../errors.js';
import { putPhotos, validateSubjectFields } from '../matcher/enroll.js';
import type { WatchlistStore } from '../matcher/watchlist.js';
import { subjectView } from '../matcher/api.js';
import type { VisitorStore } from './store.js';

export interface VisitorApiDeps {
  /** undefined: visitors are off (config visitors.enabled false); every route says so. */
  readonly visitors: VisitorStore | undefined;
  readonly watchlist: WatchlistStore;
  /** the running embedding model (fallback when a visitor's own is unknown) */
  readonly model: string;
  /** Audit hook: who promoted or forgot which visitor. */
  readonly onChange?: (change: { op: 'promote' | 'forget'; visitor: number; subject?: string; actor: string }) => void;
}

const promoteBody = z.strictObject({
  name: z.string(),
  id: z.string().optional(),
  list: z.string().optional(),
});

/**
 * The unknown visitors over HTTP: list and crops (viewer), promote to the watchlist and forget
 * (admin). Promotion enrolls the visitor's kept faces (their embeddings, from the running model,
 * and their crops as the subject's photos) in one watchlist.db transaction, so running matchers pick
 * the subject up from the change log like any other enrollment; the visitor is then forgotten.
 */
export function visitorRoutes(d: VisitorApiDeps): ApiRoute[] {
  const on = (): VisitorStore => {
    if (!d.visitors) throw new VigilError('VIGIL_ERR_VISITOR_DISABLED');
    return d.visitors;
  };
  const numberOf = (raw: string | undefined): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0 || !on().has(n)) throw new VigilError('VIGIL_ERR_VISITOR_UNKNOWN', { visitor: String(raw).slice(0, 40) });
    return n;
  };
  return [
    {
      method: 'GET',
      path: '/api/visitors',
      role: 'viewer',
      handle({ query }) {
        const v = on();
        const limit = intParam(query, 'limit', 100, 1, 500);
        const offset = intParam(query, 'offset', 0, 0, 999_999_999);
        const list = v.list(limit, offset);
        const thumbs = v.thumbnails(list.map((x) => x.number));
        return { status: 200, body: { visitors: list.map((x) => ({ ...x, thumbnail: thumbs.get(x.number)?.toString('base64') ?? null })), total: v.count(), threshold: v.threshold } };
      },
    },
    {
      method: 'GET',
      path: '/api/visitors/:number/crops',
      role: 'viewer',
      handle({ params }) {
        const n = numberOf(params.number);
        const crops = on()
          .faces(n)
          .map((f) => ({ id: f.id, quality: Math.round(f.quality * 1e4) / 1e4, camera: f.camera, at: new Date(f.at).toISOString(), crop: f.crop.toString('base64') }));
        return { status: 200, body: { number: n, crops } };
      },
    },
    {
      method: 'POST',
      path: '/api/visitors/:number/promote',
      role: 'admin',
      async handle({ params, body, actor }) {
        const n = numberOf(params.number);
        const r = promoteBody.safeParse(body);
        if (!r.success) {
          const i = r.error.issues[0]!;
          throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: i.path.join('.') || 'body', reason: i.message });
        }
        const b = r.data;
        const lists = b.list ? [b.list] : [];
        validateSubjectFields({ name: b.name, id: b.id, lists });
        const faces = on().faces(n);
        // The visitor's own model: an older profile's embeddings are labelled as such (the watchlist re-embeds the crops at start).
        const model = on().modelOf(n) ?? d.model;
        const shas: string[] = [];
        for (const f of faces) shas.push(await d.watchlist.keepImage(`visitor-${n}-${f.id}.jpg`, f.crop));
        const w = d.watchlist;
        const subject = w.write(() => putPhotos(w, { id: b.id, name: b.name, lists }, model, faces.map((f, k) => ({ sha256: shas[k]!, name: `visitor-${n}-${f.id}.jpg`, embedding: f.embedding }))));
        on().forget(n);
        d.onChange?.({ op: 'promote', visitor: n, subject: subject.id, actor: actor.name });
        return { status: 201, body: { visitor: n, subject: subjectView(subject) } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/visitors/:number',
      role: 'admin',
      handle({ params, actor }) {
        const n = numberOf(params.number);
        on().forget(n);
        d.onChange?.({ op: 'forget', visitor: n, actor: actor.name });
        return { status: 200, body: { forgotten: n } };
      },
    },
  ];
}
