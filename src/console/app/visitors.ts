import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Api, ApiError, errorText } from './api.js';
import { age, clock, jpeg } from './format.js';
import type { VisitorView } from '../../visitors/store.js';

/**
 * The unknown visitors page (config visitors.enabled): faces that matched nobody, clustered into
 * pseudonymous visitors, with their best crop, visits today and in all, and where and when they were
 * last seen. Admins promote a visitor to the watchlist (name, optional list) or forget them; other
 * roles read only (the buttons are disabled and say why).
 */

/** A visitor as GET /api/visitors lists it: the store's view plus a thumbnail of its best face. */
export type Visitor = VisitorView & { readonly thumbnail: string | null };

interface Crop {
  readonly id: number;
  readonly quality: number;
  readonly camera: string;
  readonly at: string;
  readonly crop: string;
}

/** Visitors change as face tracks end: the list is read again this often. */
const REFRESH_MS = 5000;
const NEEDS_ADMIN = 'needs an admin token; this one may only read';


export function VisitorsPage({ api, admin, now, changed }: { api: Api; admin: boolean; now: number; changed(): void }) {
  const [visitors, setVisitors] = useState<Visitor[]>([]);
  const [total, setTotal] = useState(0);
  const [off, setOff] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [promoting, setPromoting] = useState<number | null>(null);
  const [crops, setCrops] = useState<{ number: number; crops: Crop[] } | null>(null);

  const load = useCallback(() => {
    api.get<{ visitors: Visitor[]; total: number }>('/api/visitors?limit=200').then(
      (b) => {
        setVisitors(b.visitors);
        setTotal(b.total);
        setOff(null);
      },
      (e: unknown) => {
        if (e instanceof ApiError && e.code === 'VIGIL_ERR_VISITOR_DISABLED') setOff(e.message);
        // A broadcast service of the distributed mode has no visitors (embedded mode only).
        else if (e instanceof ApiError && e.code === 'VIGIL_ERR_API_NOT_FOUND') setOff('unknown visitors are kept by an embedded Vigil (vigil start) only; this server has none');
        else setNotice({ kind: 'error', text: errorText(e) });
      },
    );
  }, [api]);
  useEffect(() => {
    load();
    const t = setInterval(load, REFRESH_MS);
    return () => clearInterval(t);
  }, [load]);

  const showCrops = async (n: number): Promise<void> => {
    if (crops?.number === n) return setCrops(null);
    try {
      setCrops(await api.get<{ number: number; crops: Crop[] }>(`/api/visitors/${n}/crops`));
    } catch (e) {
      setNotice({ kind: 'error', text: errorText(e) });
    }
  };
  const forget = async (v: Visitor): Promise<void> => {
    try {
      await api.send('DELETE', `/api/visitors/${v.number}`);
      setNotice({ kind: 'ok', text: `Forgot ${v.pseudonym}: crops, embeddings and visits deleted.` });
      load();
    } catch (e) {
      setNotice({ kind: 'error', text: errorText(e) });
    }
  };

  if (off) return html`<section class="visitors" aria-label="Visitors"><p class="empty">${off[0]!.toUpperCase()}${off.slice(1)}.</p></section>`;
  return html`<section class="visitors" aria-label="Visitors">
    <div class="wl-head">
      <h2 class="queue-title">Unknown visitors <span class="count">${visitors.length}${visitors.length !== total ? ` of ${total}` : ''}</span></h2>
      <span class="muted">faces that matched nobody on the watchlist, grouped by likeness; kept for the configured retention</span>
    </div>
    ${notice && html`<div class=${`notice notice-${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>${notice.text}</div>`}
    ${visitors.length === 0 && html`<p class="empty">No unknown visitors yet.</p>`}
    <ul class="subjects">
      ${visitors.map((v) => {
        const thumb = jpeg(v.thumbnail);
        return html`<li class="subject visitor" key=${v.number} data-visitor=${v.number}>
          ${thumb ? html`<img src=${thumb} alt=${`Best face of ${v.pseudonym}`} width="72" height="72" />` : html`<div class="noface small" role="img" aria-label="no crop">—</div>`}
          <div class="who">
            <strong class="name">${v.pseudonym}</strong>
            <div class="visits"><span class="today">${v.visitsToday} visit${v.visitsToday === 1 ? '' : 's'} today</span> · ${v.visits} in all</div>
            <span class="muted last-seen">last seen at ${v.lastCamera}, <time datetime=${v.lastSeenAt} title=${clock(v.lastSeenAt)}>${age(v.lastSeenAt, now)} ago</time> · first seen ${clock(v.firstSeenAt)}</span>
          </div>
          <div class="row-actions">
            <button type="button" onClick=${() => showCrops(v.number)}>${crops?.number === v.number ? 'Hide faces' : `Faces (${v.faces})`}</button>
            <button type="button" disabled=${!admin} title=${admin ? 'Enroll this visitor on the watchlist' : NEEDS_ADMIN} onClick=${() => setPromoting(promoting === v.number ? null : v.number)}>Promote</button>
            <button type="button" class="danger" disabled=${!admin} title=${admin ? 'Delete this visitor now' : NEEDS_ADMIN} onClick=${() => forget(v)}>Forget</button>
          </div>
          ${crops?.number === v.number &&
          html`<div class="crops">
            ${crops.crops.map((c) => html`<figure class="face"><img src=${jpeg(c.crop)!} alt=${`${v.pseudonym} at ${c.camera}`} width="96" height="96" /><figcaption>${c.camera} · ${clock(c.at)}</figcaption></figure>`)}
          </div>`}
          ${(promoting === v.number || !admin) &&
          html`<${PromoteForm}
            api=${api}
            visitor=${v}
            admin=${admin}
            done=${(text: string) => {
              setPromoting(null);
              setNotice({ kind: 'ok', text });
              load();
              changed();
            }}
          />`}
        </li>`;
      })}
    </ul>
  </section>`;
}

function PromoteForm({ api, visitor, admin, done }: { api: Api; visitor: Visitor; admin: boolean; done(text: string): void }) {
  const [name, setName] = useState('');
  const [list, setList] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.post<{ subject: { id: string; name: string; photos: unknown[] } }>(`/api/visitors/${visitor.number}/promote`, { name, ...(list.trim() ? { list: list.trim() } : {}) });
      done(`Promoted ${visitor.pseudonym} to the watchlist as ${r.subject.name} (${r.subject.id}) from ${r.subject.photos.length} face${r.subject.photos.length === 1 ? '' : 's'}.`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="edit-subject promote" aria-label=${`Promote ${visitor.pseudonym}`} onSubmit=${submit}>
    <fieldset disabled=${!admin || busy} class="edit-subject">
      <label>Name <input name="name" required value=${name} onInput=${(ev: Event) => setName((ev.target as HTMLInputElement).value)} /></label>
      <label>List <input name="list" placeholder="optional, e.g. staff" value=${list} onInput=${(ev: Event) => setList((ev.target as HTMLInputElement).value)} /></label>
      <button type="submit">${busy ? 'Promoting…' : 'Promote to watchlist'}</button>
      ${!admin && html`<span class="muted reason">Promoting ${NEEDS_ADMIN}.</span>`}
    </fieldset>
    ${error && html`<p class="error" role="alert">Refused: ${error}</p>`}
  </form>`;
}
