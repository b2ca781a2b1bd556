import type { CameraStatus, MatchEvent, SightingMsg } from '../../contracts/messages.js';
import type { AckState, OperatorAction } from '../../store/types.js';

/**
 * The console's model, rebuilt from the event stream alone: every stored event (match, camera
 * status, operator action, sighting) is folded in by cursor order, so a catch-up after a reconnect and the
 * live feed go through the same code, and an event seen twice changes nothing.
 * Pure (no DOM, no Preact) so it is unit-tested in Node.
 */

export type Cursored<T> = T & { readonly cursor?: string };

/** A match event as the console holds it; the list API may leave the crop out (fetched by id). */
export type ConsoleMatch = Omit<MatchEvent, 'crop'> & { readonly crop?: string };

export interface AlertView {
  readonly id: string;
  /** The newest revision received (its best face, similarity, candidates). */
  readonly latest: ConsoleMatch;
  /** Updates received after the alert (revision > 0). */
  readonly updates: number;
  /** Set when an update arrived since the operator last looked (cleared by `seen`). */
  readonly unseenUpdate: boolean;
  readonly ack: OperatorAction | null;
}

/** A watchlist subject as GET /api/subjects lists it. */
export interface Subject {
  readonly id: string;
  readonly name: string;
  /** Base64 JPEG or data URL of the enrollment photo. */
  readonly thumbnail?: string | null;
}

export interface OperatingPoint {
  /** null when the server does not know it (e.g. a broadcast service without the matcher's profile). */
  readonly threshold: number | null;
  /** Calibrated false-positive identification rate at that threshold, 0..1 (null when the profile has no calibration). */
  readonly fpir: number | null;
  readonly profile?: string | null;
}

/** The sightings (face tracks) of one alert: "last seen <age> · N sightings" on its card. */
export interface Sightings {
  /** Sighting ids folded in, so one seen twice (catch-up and live) counts once. */
  readonly ids: ReadonlySet<string>;
  /** ISO 8601: the latest lastSeenAt of them. */
  readonly lastSeenAt: string;
}

export interface ConsoleState {
  readonly alerts: ReadonlyMap<string, AlertView>;
  /**
   * Alert id -> its sightings. Kept apart from `alerts` so a sighting folded before its alert (a
   * history page boundary, an alert beyond the kept ones) still counts once the alert arrives.
   */
  readonly sightings: ReadonlyMap<string, Sightings>;
  readonly cameras: ReadonlyMap<string, CameraStatus>;
  /** The newest cursor folded in: where a reconnect resumes. */
  readonly cursor: string | null;
}

export const emptyState = (): ConsoleState => ({ alerts: new Map(), sightings: new Map(), cameras: new Map(), cursor: null });

/** Most alerts kept in memory; the oldest beyond it are dropped from the page (they stay in the store). */
export const MAX_ALERTS = 500;

/** A sighting as the console holds it (the list API leaves the crop out; the card does not show it). */
export type ConsoleSighting = Omit<SightingMsg, 'crop'> & { readonly crop?: string };

type Incoming = Cursored<ConsoleMatch | CameraStatus | OperatorAction | ConsoleSighting | { readonly kind: string }>;

const isMatch = (e: Incoming): e is Cursored<ConsoleMatch> => e.kind === 'match';
const isCamera = (e: Incoming): e is Cursored<CameraStatus> => e.kind === 'camera-status';
const isAck = (e: Incoming): e is Cursored<OperatorAction> => e.kind === 'ack';
const isSighting = (e: Incoming): e is Cursored<ConsoleSighting> => e.kind === 'sighting';

/**
 * Folds a batch of events into a new state (the old one is not modified). Events of unknown kinds
 * only move the cursor; a revision older than the one held never replaces it (replays are idempotent).
 */
export function fold(state: ConsoleState, events: readonly Incoming[]): ConsoleState {
  if (events.length === 0) return state;
  const alerts = new Map(state.alerts);
  const cameras = new Map(state.cameras);
  const sightings = new Map(state.sightings);
  let cursor = state.cursor;
  for (const e of events) {
    if (isMatch(e)) {
      const held = alerts.get(e.id);
      if (!held) {
        alerts.set(e.id, { id: e.id, latest: e, updates: e.revision, unseenUpdate: e.revision > 0, ack: null });
      } else if (e.revision > held.latest.revision) {
        // A newer revision is a better face: its crop (or the lack of one, fetched by id) replaces the old.
        alerts.set(e.id, { ...held, latest: e, updates: e.revision, unseenUpdate: true });
      }
    } else if (isCamera(e)) {
      // /api/cameras and the feed may cross: an older status never replaces a newer one.
      const held = cameras.get(e.camera);
      if (held && held.at > e.at) {
        // stale: keep the newer one
      } else if (e.state === 'stopped') cameras.delete(e.camera);
      else cameras.set(e.camera, e);
    } else if (isAck(e)) {
      const held = alerts.get(e.eventId);
      if (held && (!held.ack || held.ack.at <= e.at)) alerts.set(e.eventId, { ...held, ack: e });
    } else if (isSighting(e)) {
      const held = sightings.get(e.alertId);
      if (!held) sightings.set(e.alertId, { ids: new Set([e.id]), lastSeenAt: e.lastSeenAt });
      else if (!held.ids.has(e.id)) sightings.set(e.alertId, { ids: new Set([...held.ids, e.id]), lastSeenAt: held.lastSeenAt > e.lastSeenAt ? held.lastSeenAt : e.lastSeenAt });
    }
    if (e.cursor !== undefined) cursor = e.cursor;
  }
  if (alerts.size > MAX_ALERTS) {
    for (const a of [...alerts.values()].sort(byNewest).slice(MAX_ALERTS)) alerts.delete(a.id), sightings.delete(a.id);
  }
  // Sightings of alerts not held (dropped, or older than the history read) are bounded too: the oldest folded go first.
  for (const id of sightings.keys()) {
    if (sightings.size <= MAX_ALERTS * 2) break;
    if (!alerts.has(id)) sightings.delete(id);
  }
  return { alerts, sightings, cameras, cursor };
}

/** Sets the crop of an alert's newest revision (from GET /api/events/:id), if it is still that revision. */
export function withCrop(state: ConsoleState, id: string, revision: number, crop: string): ConsoleState {
  const held = state.alerts.get(id);
  if (!held || held.latest.revision !== revision) return state;
  const alerts = new Map(state.alerts);
  alerts.set(id, { ...held, latest: { ...held.latest, crop } });
  return { ...state, alerts };
}

/** Clears the "updated" badge once the operator has looked at the alert. */
export function seen(state: ConsoleState, id: string): ConsoleState {
  const held = state.alerts.get(id);
  if (!held?.unseenUpdate) return state;
  const alerts = new Map(state.alerts);
  alerts.set(id, { ...held, unseenUpdate: false });
  return { ...state, alerts };
}

/** Newest appearance first (by the time the alert was raised, then id for a stable order). */
export function byNewest(a: AlertView, b: AlertView): number {
  const d = Date.parse(b.latest.alertAt) - Date.parse(a.latest.alertAt);
  return d !== 0 ? d : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type StateFilter = 'open' | AckState | 'all';

export interface Filters {
  readonly camera: string;
  readonly subject: string;
  readonly state: StateFilter;
  /** Only alerts raised within this many minutes; 0: any time. */
  readonly withinMinutes: number;
}

export const noFilters: Filters = { camera: '', subject: '', state: 'all', withinMinutes: 0 };

export function visible(state: ConsoleState, f: Filters, now: number): AlertView[] {
  const since = f.withinMinutes > 0 ? now - f.withinMinutes * 60_000 : -Infinity;
  return [...state.alerts.values()]
    .filter(
      (a) =>
        (!f.camera || a.latest.camera === f.camera) &&
        (!f.subject || a.latest.subject.id === f.subject) &&
        (f.state === 'all' || (f.state === 'open' ? a.ack === null : a.ack?.state === f.state)) &&
        Date.parse(a.latest.alertAt) >= since,
    )
    .sort(byNewest);
}

/** Camera states that mean a watched camera is not delivering frames (disabled/ended cameras are not watched). */
const DEGRADED: ReadonlySet<string> = new Set(['connecting', 'stalled', 'backoff']);

export function degradedCameras(state: ConsoleState): CameraStatus[] {
  return [...state.cameras.values()].filter((c) => DEGRADED.has(c.state));
}
