import { html } from 'htm/preact';
import type { CameraStatus } from '../../contracts/messages.js';
import type { Connection } from './feed.js';
import { age, fixed, percent } from './format.js';
import type { ConsoleState, Filters, OperatingPoint, StateFilter, Subject } from './state.js';

/** The console's header parts, camera strip and filter bar. */

export function ConnectionBadge({ conn, now }: { conn: Connection; now: number }) {
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

export function OperatingPointView({ op }: { op: OperatingPoint | null }) {
  if (!op || op.threshold === null) return html`<p class="op"></p>`;
  return html`<p class="op" title="The similarity an alert needs, and the share of people not on the watchlist expected to reach it (calibrated)">
    threshold <strong>${fixed(op.threshold, 4)}</strong>
    ${op.fpir != null ? html` · false-positive rate <strong>${percent(op.fpir)}</strong>` : ' · uncalibrated'}
  </p>`;
}

export function CameraStrip({ cameras, now }: { cameras: CameraStatus[]; now: number }) {
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

export function FilterBar({ filters, set, st, subjects }: { filters: Filters; set: (f: Filters) => void; st: ConsoleState; subjects: ReadonlyMap<string, Subject> }) {
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

