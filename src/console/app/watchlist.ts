import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Api, errorText } from './api.js';
import { clock, fixed, jpeg, percent } from './format.js';
import type { Subject } from './state.js';

/**
 * The watchlist page: search and read subjects (any role); add from photos, edit name/lists/expiry
 * and remove (admin). Photos go to POST /api/watchlist/subjects as base64 in JSON; the server's
 * warnings ("2 other faces ignored") and refusals (with their reason) are shown as they come.
 */

/** A subject as GET /api/watchlist/subjects shows it (no embeddings). */
export interface WatchSubject {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly photos: readonly { sha256: string; name: string }[];
  readonly lists: readonly string[];
  readonly expiresAt: string | null;
}

/** A list as GET /api/watchlist/lists shows it. */
export interface WatchList {
  readonly name: string;
  readonly priority: number;
  readonly colour: string | null;
  readonly threshold: number | null;
  readonly targetFpir: number | null;
}

interface Notice {
  readonly kind: 'ok' | 'warn' | 'error';
  readonly text: string;
  /** The server's warnings, one a line. */
  readonly items?: readonly string[];
}


/** "vip, staff " → ["vip", "staff"]. */
const splitLists = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** A file's bytes as base64 (without the data-URL prefix). */
function base64Of(f: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(new Error(`could not read ${f.name}`));
    r.readAsDataURL(f);
  });
}

/** The expiry as the date input wants it (yyyy-mm-dd) or ''. */
const dateOf = (iso: string | null): string => (iso ? iso.slice(0, 10) : '');

export function ListChip({ name, lists }: { name: string; lists: ReadonlyMap<string, WatchList> }) {
  const l = lists.get(name);
  return html`<span class="chip" data-list=${name} style=${l?.colour ? { borderColor: l.colour, color: l.colour } : undefined} title=${l ? `priority ${l.priority}` : 'list without settings'}>${name}</span>`;
}

interface PageProps {
  readonly api: Api;
  readonly admin: boolean;
  /** Thumbnails by subject id (GET /api/subjects). */
  readonly thumbs: ReadonlyMap<string, Subject>;
  readonly lists: ReadonlyMap<string, WatchList>;
  /** A write happened: the app reloads thumbnails and lists. */
  changed(): void;
}

export function WatchlistPage({ api, admin, thumbs, lists, changed }: PageProps) {
  const [q, setQ] = useState('');
  const [subjects, setSubjects] = useState<WatchSubject[]>([]);
  const [total, setTotal] = useState(0);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);

  const load = useCallback(() => {
    api.get<{ subjects: WatchSubject[]; total: number }>(`/api/watchlist/subjects?limit=200&q=${encodeURIComponent(q)}`).then(
      (b) => {
        setSubjects(b.subjects);
        setTotal(b.total);
      },
      (e: unknown) => setNotice({ kind: 'error', text: errorText(e) }),
    );
  }, [api, q]);
  useEffect(load, [load]);

  const after = (n: Notice): void => {
    setNotice(n);
    load();
    changed();
  };
  const remove = async (s: WatchSubject): Promise<void> => {
    try {
      await api.send('DELETE', `/api/watchlist/subjects/${encodeURIComponent(s.id)}`);
      setRemoving(null);
      after({ kind: 'ok', text: `Removed ${s.name} (${s.id}): photos and embeddings deleted.` });
    } catch (e) {
      setNotice({ kind: 'error', text: errorText(e) });
    }
  };

  return html`<section class="watchlist" aria-label="Watchlist">
    <${ListsTable} lists=${lists} />
    <${AddSubject} api=${api} admin=${admin} done=${after} />
    ${notice &&
    html`<div class=${`notice notice-${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>
      ${notice.text}
      ${notice.items?.length ? html`<ul class="warnings">${notice.items.map((w) => html`<li>Warning: ${w}</li>`)}</ul>` : ''}
    </div>`}
    <div class="wl-head">
      <h2 class="queue-title">Subjects <span class="count">${subjects.length}${subjects.length !== total ? ` of ${total}` : ''}</span></h2>
      <label>Search <input type="search" name="q" value=${q} placeholder="name or id" onInput=${(ev: Event) => setQ((ev.target as HTMLInputElement).value)} /></label>
    </div>
    ${subjects.length === 0 && html`<p class="empty">${q ? 'Nobody matches the search.' : 'The watchlist is empty.'}</p>`}
    <ul class="subjects">
      ${subjects.map((s) => {
        const thumb = jpeg(thumbs.get(s.id)?.thumbnail);
        return html`<li class="subject" key=${s.id} data-subject=${s.id}>
          ${thumb ? html`<img src=${thumb} alt=${`Enrollment photo of ${s.name}`} width="72" height="72" />` : html`<div class="noface small" role="img" aria-label="no photo">—</div>`}
          <div class="who">
            <strong class="name">${s.name}</strong> <span class="muted">${s.id}</span>
            <div>${s.lists.map((l) => html`<${ListChip} name=${l} lists=${lists} />`)}</div>
            <span class="muted">${s.photos.length} photo${s.photos.length === 1 ? '' : 's'} · added ${clock(s.createdAt)}${s.expiresAt ? ` · expires ${dateOf(s.expiresAt)}` : ''}</span>
          </div>
          <div class="row-actions">
            ${removing === s.id
              ? html`<span>Remove ${s.name} and their photos?</span>
                  <button type="button" class="danger confirm-remove" onClick=${() => remove(s)}>Yes, remove</button>
                  <button type="button" onClick=${() => setRemoving(null)}>Cancel</button>`
              : html`<button type="button" disabled=${!admin} title=${admin ? '' : 'needs an admin token'} onClick=${() => setEditing(editing === s.id ? null : s.id)}>Edit</button>
                  <button type="button" class="danger" disabled=${!admin} title=${admin ? '' : 'needs an admin token'} onClick=${() => setRemoving(s.id)}>Remove</button>`}
          </div>
          ${editing === s.id && html`<${EditSubject} api=${api} subject=${s} done=${(n: Notice) => (setEditing(null), after(n))} fail=${setNotice} />`}
        </li>`;
      })}
    </ul>
  </section>`;
}

function ListsTable({ lists }: { lists: ReadonlyMap<string, WatchList> }) {
  const rows = [...lists.values()].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
  return html`<details class="lists" open>
    <summary>Lists (${rows.length})</summary>
    ${rows.length === 0
      ? html`<p class="muted">No lists configured (<code>vigil watchlist set-list NAME --priority 10 --colour '#d33' --target-fpir 0.001</code>); subjects match at the global operating point.</p>`
      : html`<table>
          <thead><tr><th>List</th><th>Priority</th><th>Colour</th><th>Operating point</th></tr></thead>
          <tbody>
            ${rows.map(
              (l) => html`<tr data-list=${l.name}>
                <td><${ListChip} name=${l.name} lists=${lists} /></td>
                <td class="num">${l.priority}</td>
                <td>${l.colour ? html`<span class="swatch" style=${{ background: l.colour }}></span> ${l.colour}` : html`<span class="muted">none</span>`}</td>
                <td>${l.threshold != null ? `threshold ${fixed(l.threshold, 4)}` : l.targetFpir != null ? `target false-positive rate ${percent(l.targetFpir)}` : html`<span class="muted">global</span>`}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </details>`;
}

function AddSubject({ api, admin, done }: { api: Api; admin: boolean; done(n: Notice): void }) {
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [listText, setListText] = useState('');
  const [expires, setExpires] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  /** Which face of a photo with several: the server's choice ('auto'), the largest, or the N-th largest. */
  const [face, setFace] = useState('auto');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [formKey, setFormKey] = useState(0);
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const photos = await Promise.all(files.map(async (f) => ({ name: f.name, data: await base64Of(f) })));
      const body = { name, ...(id.trim() ? { id: id.trim() } : {}), lists: splitLists(listText), ...(expires ? { expiresAt: expires } : {}), face: face === 'auto' || face === 'largest' ? face : Number(face), photos };
      const r = await api.post<{ subject: WatchSubject; warnings: { kind: string; message: string }[] }>('/api/watchlist/subjects', body);
      const warned = r.warnings.map((w) => w.message);
      done({ kind: warned.length ? 'warn' : 'ok', text: `Added ${r.subject.name} (${r.subject.id}) from ${photos.length} photo${photos.length === 1 ? '' : 's'}.`, items: warned });
      setName('');
      setId('');
      setListText('');
      setExpires('');
      setFiles([]);
      setFace('auto');
      setFormKey((k) => k + 1); // a fresh file input: the chosen files are gone
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="add-subject" aria-label="Add a subject" onSubmit=${submit} key=${formKey}>
    <h2 class="queue-title">Add a subject ${!admin && html`<span class="muted">(needs an admin token; this one may only read)</span>`}</h2>
    <fieldset disabled=${!admin || busy}>
      <label>Name <input name="name" required value=${name} onInput=${(ev: Event) => setName((ev.target as HTMLInputElement).value)} /></label>
      <label>Id <input name="id" placeholder="from the name" value=${id} onInput=${(ev: Event) => setId((ev.target as HTMLInputElement).value)} /></label>
      <label>Lists <input name="lists" placeholder="vip, staff" value=${listText} onInput=${(ev: Event) => setListText((ev.target as HTMLInputElement).value)} /></label>
      <label>Expires <input name="expires" type="date" value=${expires} onInput=${(ev: Event) => setExpires((ev.target as HTMLInputElement).value)} /></label>
      <label>Photos <input name="photos" type="file" accept="image/jpeg,image/png,image/webp" multiple required onChange=${(ev: Event) => setFiles([...((ev.target as HTMLInputElement).files ?? [])])} /></label>
      <label title="A photo with several faces: the server picks the one it is about when that is clear, or refuses it; then choose here">
        Face
        <select name="face" value=${face} onChange=${(ev: Event) => setFace((ev.target as HTMLSelectElement).value)}>
          <option value="auto">auto</option>
          <option value="largest">largest</option>
          <option value="2">2nd largest</option>
          <option value="3">3rd largest</option>
        </select>
      </label>
      <button type="submit" class="add">${busy ? 'Adding…' : 'Add subject'}</button>
    </fieldset>
    ${error && html`<p class="error" role="alert">Refused: ${error}</p>`}
  </form>`;
}

function EditSubject({ api, subject, done, fail }: { api: Api; subject: WatchSubject; done(n: Notice): void; fail(n: Notice): void }) {
  const [name, setName] = useState(subject.name);
  const [listText, setListText] = useState(subject.lists.join(', '));
  const [expires, setExpires] = useState(dateOf(subject.expiresAt));
  const save = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    try {
      const s = await api.send<WatchSubject>('PATCH', `/api/watchlist/subjects/${encodeURIComponent(subject.id)}`, { name, lists: splitLists(listText), expiresAt: expires || null });
      done({ kind: 'ok', text: `Saved ${s.name} (${s.id}).` });
    } catch (e) {
      fail({ kind: 'error', text: errorText(e) });
    }
  };
  return html`<form class="edit-subject" aria-label=${`Edit ${subject.name}`} onSubmit=${save}>
    <label>Name <input name="name" required value=${name} onInput=${(ev: Event) => setName((ev.target as HTMLInputElement).value)} /></label>
    <label>Lists <input name="lists" value=${listText} onInput=${(ev: Event) => setListText((ev.target as HTMLInputElement).value)} /></label>
    <label>Expires <input name="expires" type="date" value=${expires} onInput=${(ev: Event) => setExpires((ev.target as HTMLInputElement).value)} /></label>
    <button type="submit">Save</button>
  </form>`;
}
