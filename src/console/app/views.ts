import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { AckState, OperatorAction } from '../../store/types.js';
import { AlertCard } from './alert-card.js';
import { type Api, listOf } from './api.js';
import { Feed, type Connection, type Hello, type StreamEvent } from './feed.js';
import { CameraStrip, ConnectionBadge, FilterBar, OperatingPointView } from './panels.js';
import { SinksPanel } from './sinks.js';
import type { Alarm } from './sound.js';
import { type WatchList, WatchlistPage } from './watchlist.js';
import { VisitorsPage } from './visitors.js';
import {
  type ConsoleState,
  type Filters,
  type OperatingPoint,
  type Subject,
  degradedCameras,
  emptyState,
  fold,
  noFilters,
  seen,
  visible,
  withCrop,
} from './state.js';

/**
 * The operator console: a header (connection, operating point, pause, sound), the camera strip, a
 * "monitoring degraded" banner, filters, and the alert queue, newest first. All event data reaches
 * the page as text or attribute values through htm (escaped by Preact), never as HTML.
 */

const CURSOR_KEY = 'vigil.cursor';
/** Crops fetched at once when the history arrives without them. */
const CROP_FETCHES = 4;

/** The console's pages, kept in the address's hash (#/watchlist) so a reload stays on the page. */
type Page = 'alerts' | 'watchlist' | 'visitors' | 'sinks';
const pageOf = (hash: string): Page => (hash === '#/watchlist' ? 'watchlist' : hash === '#/visitors' ? 'visitors' : hash === '#/sinks' ? 'sinks' : 'alerts');

interface AppProps {
  readonly api: Api;
  readonly alarm: Alarm;
}

function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function App({ api, alarm }: AppProps) {
  const [st, setSt] = useState<ConsoleState>(emptyState);
  const [conn, setConn] = useState<Connection>({ phase: 'loading', attempt: 0, retryAt: null, error: null });
  const [op, setOp] = useState<OperatingPoint | null>(null);
  const [subjects, setSubjects] = useState<ReadonlyMap<string, Subject>>(new Map());
  const [filters, setFilters] = useState<Filters>(noFilters);
  /** While paused, the ids on screen: new alerts wait (counted) so the list does not move under the operator. */
  const [frozen, setFrozen] = useState<ReadonlySet<string> | null>(null);
  const [sound, setSound] = useState(false);
  const [announce, setAnnounce] = useState('');
  const now = useNow(1000);
  const [page, setPage] = useState<Page>(pageOf(location.hash));
  const [role, setRole] = useState<string | null>(null);
  const [lists, setLists] = useState<ReadonlyMap<string, WatchList>>(new Map());
  /** Subject ids asked for by id since the last full load (one that was removed is not asked again). */
  const subjectsAsked = useRef(new Set<string>());
  const cropsAsked = useRef(new Set<string>());

  // The first page of the watchlist (the Person filter), then the subjects the alerts name, by id:
  // never the whole watchlist, which may hold a million subjects.
  const mergeSubjects = useCallback((body: unknown, replace: boolean) => {
    const got = listOf<Subject>(body, 'subjects').map((s) => [s.id, s] as const);
    setSubjects((m) => new Map(replace ? got : [...m, ...got]));
  }, []);
  const loadSubjects = useCallback(() => {
    subjectsAsked.current.clear();
    api.get<unknown>('/api/subjects?limit=500').then(
      (body) => mergeSubjects(body, true),
      () => undefined, // the faces still show; the enrolled photo appears on the next refresh
    );
  }, [api, mergeSubjects]);
  const loadSubjectsById = useCallback(
    (ids: string[]) => {
      for (const id of ids) subjectsAsked.current.add(id);
      api.get<unknown>(`/api/subjects?ids=${ids.map(encodeURIComponent).join(',')}`).then(
        (body) => mergeSubjects(body, false),
        () => ids.forEach((id) => subjectsAsked.current.delete(id)), // asked again with the next alert
      );
    },
    [api, mergeSubjects],
  );

  const loadLists = useCallback(() => {
    api.get<{ lists: WatchList[] }>('/api/watchlist/lists').then(
      (b) => setLists(new Map(b.lists.map((l) => [l.name, l]))),
      () => undefined, // a server without the watchlist API (broadcast service): cards show the list name only
    );
  }, [api]);

  useEffect(() => {
    const onHash = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    loadSubjects();
    loadLists();
    api.get<{ role: string }>('/api/status').then(
      (b) => setRole(b.role),
      () => undefined,
    );
    api.get<unknown>('/api/cameras').then(
      (body) => setSt((s) => fold(s, listOf<StreamEvent>(body, 'cameras').filter((c) => c.kind === 'camera-status'))),
      () => undefined,
    );
    // A page (re)load rebuilds the queue from the stored history; the cursor then follows every event
    // folded in (mirrored in session storage) and is where each reconnect resumes.
    const feed = new Feed({
      api,
      onEvents: (events, live) => {
        setSt((s) => fold(s, events));
        if (feed.cursor) sessionStorage.setItem(CURSOR_KEY, feed.cursor);
        const fresh = events.filter((e) => e.kind === 'match' && e.type === 'alert');
        if (live && fresh.length) {
          alarm.beep();
          const e = fresh.at(-1) as unknown as { subject: { name: string }; camera: string };
          setAnnounce(`New alert: ${e.subject.name} on camera ${e.camera}`);
        }
      },
      onHello: (h: Hello) => {
        if (h.operatingPoint) setOp(h.operatingPoint);
      },
      onConnection: setConn,
    });
    feed.start();
    return () => feed.stop();
  }, [api, alarm, loadLists]);

  // Alerts for subjects not loaded yet (beyond the first page, or enrolled since): ask for those.
  useEffect(() => {
    // Visitor alerts name a pseudonym, not a watchlist subject: nothing to look up.
    const missing = [...new Set([...st.alerts.values()].filter((a) => !a.latest.visitor).map((a) => a.latest.subject.id))].filter((id) => !subjects.has(id) && !subjectsAsked.current.has(id));
    if (missing.length) loadSubjectsById(missing.slice(0, 100));
  }, [st, subjects, loadSubjectsById]);

  const shown = useMemo(() => {
    const all = visible(st, filters, now);
    return frozen ? all.filter((a) => frozen.has(a.id)) : all;
  }, [st, filters, now, frozen]);
  const waiting = frozen ? [...st.alerts.keys()].filter((id) => !frozen.has(id)).length : 0;

  // The history comes without crops (the feed has them): fetch each shown alert's face once per
  // revision, newest first, a few at a time; each answer re-runs this effect for the next ones.
  const [cropsInFlight, setCropsInFlight] = useState(0);
  useEffect(() => {
    let free = CROP_FETCHES - cropsInFlight;
    for (const a of shown) {
      if (free <= 0) break;
      const key = `${a.id}#${a.latest.revision}`;
      if (a.latest.crop || cropsAsked.current.has(key)) continue;
      cropsAsked.current.add(key);
      free--;
      setCropsInFlight((n) => n + 1);
      api
        .get<{ crop?: string; revision?: number }>(`/api/events/${encodeURIComponent(a.id)}`)
        .then(
          (e) => e.crop && setSt((s) => withCrop(s, a.id, e.revision ?? a.latest.revision, e.crop!)),
          () => undefined, // purged or unreachable: the card shows "not available"
        )
        .finally(() => setCropsInFlight((n) => n - 1));
    }
  }, [shown, api, cropsInFlight]);

  const acknowledge = useCallback(
    async (id: string, state: AckState, note: string): Promise<void> => {
      const body = await api.post<unknown>(`/api/events/${encodeURIComponent(id)}/ack`, { state, note: note.trim() || null });
      // The socket brings the same action to every console; folding the reply too shows it at once here.
      const ack = ((body as { ack?: OperatorAction }).ack ?? body) as StreamEvent;
      if (ack && ack.kind === 'ack') setSt((s) => fold(s, [{ ...ack, cursor: undefined }]));
    },
    [api],
  );

  const cameras = [...st.cameras.values()].sort((a, b) => a.camera.localeCompare(b.camera));
  const degraded = degradedCameras(st);
  const anyAlert = op?.threshold != null ? undefined : [...st.alerts.values()][0];
  const shownOp = op?.threshold != null ? op : (anyAlert ? { threshold: anyAlert.latest.threshold, fpir: null } : null);

  return html`
    <header class="top">
      <h1>Vigil <span>operator console</span></h1>
      <${ConnectionBadge} conn=${conn} now=${now} />
      <${OperatingPointView} op=${shownOp} />
      <div class="controls">
        <button type="button" aria-pressed=${frozen !== null} onClick=${() => setFrozen(frozen ? null : new Set(st.alerts.keys()))}>
          ${frozen ? `Resume${waiting ? ` (${waiting} new)` : ''}` : 'Pause queue'}
        </button>
        <button
          type="button"
          aria-pressed=${sound}
          onClick=${async () => {
            if (sound) {
              alarm.disable();
              setSound(false);
            } else {
              await alarm.enable();
              setSound(true);
            }
          }}
        >
          ${sound ? 'Sound on' : 'Enable sound'}
        </button>
      </div>
    </header>
    <nav class="tabs" aria-label="Pages">
      ${(
        [
          ['alerts', 'Alerts'],
          ['watchlist', 'Watchlist'],
          ['visitors', 'Visitors'],
          ...(role === 'admin' ? [['sinks', 'Sinks']] : []),
        ] as [Page, string][]
      ).map(([p, text]) => html`<a href=${p === 'alerts' ? '#/' : `#/${p}`} class="tab" aria-current=${page === p ? 'page' : undefined}>${text}</a>`)}
      ${role && html`<span class="muted role">signed in as ${role}</span>`}
    </nav>
    <${CameraStrip} cameras=${cameras} now=${now} />
    ${degraded.length > 0 &&
    html`<div class="banner" role="alert">
      <strong>Monitoring degraded:</strong>
      ${` ${degraded.map((c) => `${c.camera} (${c.state})`).join(', ')}: alerts from ${degraded.length === 1 ? 'this camera' : 'these cameras'} may be missed.`}
    </div>`}
    <p class="sr-only" aria-live="polite">${announce}</p>
    ${page === 'watchlist' &&
    html`<main>
      <${WatchlistPage}
        api=${api}
        admin=${role === 'admin'}
        thumbs=${subjects}
        lists=${lists}
        changed=${() => {
          loadSubjects();
          loadLists();
        }}
      />
    </main>`}
    ${page === 'visitors' &&
    html`<main>
      <${VisitorsPage}
        api=${api}
        admin=${role === 'admin'}
        now=${now}
        changed=${() => {
          loadSubjects();
          loadLists();
        }}
      />
    </main>`}
    ${page === 'sinks' && html`<main><${SinksPanel} api=${api} now=${now} /></main>`}
    ${page === 'alerts' && html`<${FilterBar} filters=${filters} set=${setFilters} st=${st} subjects=${subjects} />`}
    ${page === 'alerts' &&
    html`<main>
      <h2 class="queue-title">
        Alerts <span class="count">${shown.length}${shown.length !== st.alerts.size ? ` of ${st.alerts.size}` : ''}</span>
      </h2>
      ${shown.length === 0 && html`<p class="empty">${st.alerts.size ? 'No alert matches the filters.' : conn.phase === 'loading' ? 'Loading…' : 'No alerts yet.'}</p>`}
      <ol class="queue">
        ${shown.map(
          (a) =>
            html`<${AlertCard}
              key=${a.id}
              alert=${a}
              subject=${subjects.get(a.latest.subject.id)}
              sightings=${st.sightings.get(a.id)}
              list=${a.latest.list ? (lists.get(a.latest.list) ?? { name: a.latest.list, colour: null }) : undefined}
              now=${now}
              acknowledge=${acknowledge}
              markSeen=${() => setSt((s) => seen(s, a.id))}
            />`,
        )}
      </ol>
    </main>`}
  `;
}
