import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { CameraStatus } from '../../contracts/messages.js';
import type { AckState, OperatorAction } from '../../store/types.js';
import { type Api, listOf } from './api.js';
import { Feed, type Connection, type Hello, type StreamEvent } from './feed.js';
import { age, clock, fixed, jpeg, percent } from './format.js';
import type { Alarm } from './sound.js';
import {
  type AlertView,
  type ConsoleState,
  type Filters,
  type OperatingPoint,
  type StateFilter,
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

export interface Subject {
  readonly id: string;
  readonly name: string;
  /** Base64 JPEG or data URL of the enrollment photo. */
  readonly thumbnail?: string | null;
}

const CURSOR_KEY = 'vigil.cursor';
/** Crops fetched at once when the history arrives without them. */
const CROP_FETCHES = 4;

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
  const subjectsAsked = useRef(0);
  const cropsAsked = useRef(new Set<string>());

  const loadSubjects = useCallback(() => {
    subjectsAsked.current = Date.now();
    api.get<unknown>('/api/subjects').then(
      (body) => setSubjects(new Map(listOf<Subject>(body, 'subjects').map((s) => [s.id, s]))),
      () => undefined, // the faces still show; the enrolled photo appears on the next refresh
    );
  }, [api]);

  useEffect(() => {
    loadSubjects();
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
  }, [api, alarm]);

  // An alert for someone not in the subject list (enrolled since): refresh it, at most every 5 s.
  useEffect(() => {
    const missing = [...st.alerts.values()].some((a) => !subjects.has(a.latest.subject.id));
    if (missing && Date.now() - subjectsAsked.current > 5000) loadSubjects();
  }, [st, subjects, loadSubjects]);

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
  const shownOp = op?.threshold != null ? op : (st.alerts.size ? { threshold: [...st.alerts.values()][0].latest.threshold, fpir: null } : null);

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
    <${CameraStrip} cameras=${cameras} now=${now} />
    ${degraded.length > 0 &&
    html`<div class="banner" role="alert">
      <strong>Monitoring degraded:</strong>
      ${` ${degraded.map((c) => `${c.camera} (${c.state})`).join(', ')}: alerts from ${degraded.length === 1 ? 'this camera' : 'these cameras'} may be missed.`}
    </div>`}
    <${FilterBar} filters=${filters} set=${setFilters} st=${st} subjects=${subjects} />
    <p class="sr-only" aria-live="polite">${announce}</p>
    <main>
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
              now=${now}
              acknowledge=${acknowledge}
              markSeen=${() => setSt((s) => seen(s, a.id))}
            />`,
        )}
      </ol>
    </main>
  `;
}

function ConnectionBadge({ conn, now }: { conn: Connection; now: number }) {
  const text =
    conn.phase === 'live'
      ? 'Live'
      : conn.phase === 'loading'
        ? 'Connecting…'
        : conn.phase === 'refused'
          ? `Token refused: ${conn.error ?? ''}`
          : `Reconnecting${conn.retryAt ? ` in ${Math.max(0, Math.ceil((conn.retryAt - now) / 1000))} s` : '…'}`;
  return html`<p class="conn conn-${conn.phase}" role="status" data-phase=${conn.phase} title=${conn.error ?? ''}>${text}</p>`;
}

function OperatingPointView({ op }: { op: OperatingPoint | null }) {
  if (!op || op.threshold === null) return html`<p class="op"></p>`;
  return html`<p class="op" title="The similarity an alert needs, and the share of people not on the watchlist expected to reach it (calibrated)">
    threshold <strong>${fixed(op.threshold, 4)}</strong>
    ${op.fpir != null ? html` · false-positive rate <strong>${percent(op.fpir)}</strong>` : ' · uncalibrated'}
  </p>`;
}

function CameraStrip({ cameras, now }: { cameras: CameraStatus[]; now: number }) {
  if (cameras.length === 0) return html`<section class="cameras" aria-label="Cameras"><p class="muted">No camera status yet.</p></section>`;
  return html`<section class="cameras" aria-label="Cameras">
    <ul>
      ${cameras.map(
        (c) => html`<li class="camera state-${c.state}" data-camera=${c.camera}>
          <span class="cam-name" title=${c.camera}>${c.name ?? c.camera}</span>
          <span class="pill">${c.state}</span>
          <span class="muted">${frames(c, now)}</span>
          ${c.error && html`<span class="cam-error" title=${c.error.message}>${c.error.code.replace(/^VIGIL_ERR_/, '')}: ${c.error.message}</span>`}
        </li>`,
      )}
    </ul>
  </section>`;
}

/**
 * Status events come on state changes only. A live camera's frames are arriving (the ingest's stall
 * watchdog turns it 'stalled' otherwise), so it shows how long it has been live; any other state
 * shows the age of the last frame it delivered, which no longer moves.
 */
function frames(c: CameraStatus, now: number): string {
  if (c.state === 'live') return `frames arriving · live for ${age(c.at, now)}`;
  return c.lastFrameAt ? `last frame ${age(c.lastFrameAt, now)} ago` : 'no frame yet';
}

const STATES: readonly [StateFilter, string][] = [
  ['all', 'All'],
  ['open', 'Open'],
  ['acknowledged', 'Acknowledged'],
  ['confirmed', 'Confirmed'],
  ['dismissed', 'Dismissed (false)'],
];
const TIMES: readonly [number, string][] = [
  [0, 'Any time'],
  [15, 'Last 15 min'],
  [60, 'Last hour'],
  [24 * 60, 'Last 24 h'],
  [7 * 24 * 60, 'Last 7 days'],
];

function FilterBar({ filters, set, st, subjects }: { filters: Filters; set: (f: Filters) => void; st: ConsoleState; subjects: ReadonlyMap<string, Subject> }) {
  const cams = new Set<string>(st.cameras.keys());
  const people = new Map<string, string>([...subjects.values()].map((s) => [s.id, s.name]));
  for (const a of st.alerts.values()) {
    cams.add(a.latest.camera);
    people.set(a.latest.subject.id, a.latest.subject.name);
  }
  const on = (key: keyof Filters) => (ev: Event) => {
    const v = (ev.target as HTMLSelectElement).value;
    set({ ...filters, [key]: key === 'withinMinutes' ? Number(v) : v });
  };
  return html`<form class="filters" aria-label="Filters" onSubmit=${(e: Event) => e.preventDefault()}>
    <label>Camera
      <select value=${filters.camera} onChange=${on('camera')}>
        <option value="">All cameras</option>
        ${[...cams].sort().map((c) => html`<option value=${c}>${c}</option>`)}
      </select>
    </label>
    <label>Person
      <select value=${filters.subject} onChange=${on('subject')}>
        <option value="">Everyone</option>
        ${[...people].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) => html`<option value=${id}>${name}</option>`)}
      </select>
    </label>
    <label>State
      <select value=${filters.state} onChange=${on('state')}>
        ${STATES.map(([v, t]) => html`<option value=${v}>${t}</option>`)}
      </select>
    </label>
    <label>Time
      <select value=${String(filters.withinMinutes)} onChange=${on('withinMinutes')}>
        ${TIMES.map(([v, t]) => html`<option value=${String(v)}>${t}</option>`)}
      </select>
    </label>
  </form>`;
}

const ACTIONS: readonly [AckState, string][] = [
  ['acknowledged', 'Acknowledge'],
  ['confirmed', 'Confirm'],
  ['dismissed', 'Dismiss as false'],
];

interface CardProps {
  readonly alert: AlertView;
  readonly subject: Subject | undefined;
  readonly now: number;
  acknowledge(id: string, state: AckState, note: string): Promise<void>;
  markSeen(): void;
}

function AlertCard({ alert, subject, now, acknowledge, markSeen }: CardProps) {
  const e = alert.latest;
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const runnerUp = e.candidates.find((c) => c.subject.id !== e.subject.id);
  const noteId = `note-${e.id}`;
  const act = async (state: AckState): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await acknowledge(e.id, state, note);
      setNote('');
      markSeen();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const ack = alert.ack;
  return html`<li class=${`alert${ack ? ` acked ack-${ack.state}` : ''}${alert.unseenUpdate ? ' updated' : ''}`} data-alert=${e.id} data-revision=${e.revision} data-state=${ack?.state ?? 'open'}>
    <div class="faces">
      <${Face} src=${jpeg(e.crop)} label="Captured" alt=${`Face captured on ${e.camera}`} />
      <${Face} src=${jpeg(subject?.thumbnail)} label="Enrolled" alt=${`Enrollment photo of ${e.subject.name}`} />
    </div>
    <div class="facts">
      <h3>
        <span class="name">${e.subject.name}</span>
        ${alert.updates > 0 &&
        html`<button type="button" class=${`badge${alert.unseenUpdate ? ' new' : ''}`} onClick=${markSeen} title="Better faces of this appearance arrived; click to mark seen">
          ${alert.updates} update${alert.updates === 1 ? '' : 's'}
        </button>`}
      </h3>
      <dl>
        <div><dt>Similarity</dt><dd class="num">${fixed(e.similarity)} <span class="muted">(threshold ${fixed(e.threshold)})</span></dd></div>
        <div><dt>Margin to runner-up</dt><dd class="num">${runnerUp ? `${fixed(e.margin)} (${runnerUp.subject.name})` : `${fixed(e.margin)} (no other candidate)`}</dd></div>
        <div><dt>Rule</dt><dd>${e.rule === 'strong' ? 'strong (one face well above threshold)' : 'k-of-n (repeated faces above threshold)'}</dd></div>
        <div><dt>Camera</dt><dd>${e.camera}${e.related ? ` (seen before on ${e.related.camera})` : ''}</dd></div>
        <div><dt>Captured at</dt><dd><time datetime=${e.alertAt}>${clock(e.alertAt)}</time> <span class="muted">(${age(e.alertAt, now)} ago)</span></dd></div>
      </dl>
      <details>
        <summary>${e.candidates.length === 1 ? 'Top candidate' : `Top ${e.candidates.length} candidates`}</summary>
        <ol class="candidates">
          ${e.candidates.map((c) => html`<li><span>${c.subject.name}</span> <span class="num">${fixed(c.similarity)}</span></li>`)}
        </ol>
      </details>
    </div>
    <div class="decision">
      ${ack
        ? html`<p class="ack-state" role="status"><strong>${ackLabel(ack.state)}</strong> by ${ack.actor} · <time datetime=${ack.at} title=${clock(ack.at)}>${age(ack.at, now)} ago</time>${ack.note ? html`<br /><q>${ack.note}</q>` : ''}</p>`
        : html`<p class="ack-state open">Open</p>`}
      <label for=${noteId}>Note</label>
      <input id=${noteId} type="text" maxlength="500" value=${note} onInput=${(ev: Event) => setNote((ev.target as HTMLInputElement).value)} placeholder="optional" />
      <div class="actions">
        ${ACTIONS.map(
          ([state, text]) =>
            html`<button type="button" class=${`act act-${state}`} disabled=${busy} aria-pressed=${ack?.state === state} onClick=${() => act(state)}>${text}</button>`,
        )}
      </div>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </div>
  </li>`;
}

const ackLabel = (s: AckState): string => (s === 'acknowledged' ? 'Acknowledged' : s === 'confirmed' ? 'Confirmed' : 'Dismissed as false');

function Face({ src, label, alt }: { src: string | null; label: string; alt: string }) {
  return html`<figure class="face">
    ${src ? html`<img src=${src} alt=${alt} width="112" height="112" />` : html`<div class="noface" role="img" aria-label=${`${label}: not available`}>—</div>`}
    <figcaption>${label}</figcaption>
  </figure>`;
}
