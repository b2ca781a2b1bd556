import type { CameraStatus, MatchEvent } from '../contracts/messages.js';
import { fpirAt } from '../broadcast/operating-point.js';
import type { Manifest } from '../models/manifest.js';
import type { StoredEvent } from '../store/types.js';

/**
 * What a sink sends: one JSON document per stored event, the same for webhooks and MQTT. An alert
 * carries the decision's provenance (which model and profile, the threshold and the false positive
 * identification rate it was calibrated at, the rule and the margin) and a link to the event in
 * the console. (id, revision) identifies one delivery target: receivers drop duplicates by it.
 */
export interface AlertPayload {
  readonly kind: 'vigil.alert';
  readonly v: 1;
  readonly id: string;
  readonly revision: number;
  readonly type: 'alert' | 'update';
  readonly camera: string;
  readonly subject: { readonly id: string; readonly name: string };
  /** Watchlist names/ids the subject is on, when the event says (empty otherwise). */
  readonly lists: readonly string[];
  readonly similarity: number;
  readonly firstSeenAt: string;
  readonly alertAt: string;
  readonly capturedAt: string;
  readonly box: MatchEvent['box'];
  readonly related: MatchEvent['related'];
  readonly provenance: {
    readonly model: string;
    readonly profile: string;
    readonly threshold: number;
    /** Expected share of never-enrolled faces that would alert at this threshold (profile calibration); null when the profile has none. */
    readonly fpir: number | null;
    readonly rule: MatchEvent['rule'];
    readonly margin: number;
  };
  /** Only on an unknown-visitor alert (config visitors.alertCameras): the pseudonymous visitor (additive). */
  readonly visitor?: { readonly number: number; readonly pseudonym: string; readonly visitsToday: number; readonly visits: number };
  /** `<broadcast.publicUrl>/#/events/<id>`; null when publicUrl is not configured. */
  readonly url: string | null;
  /** Base64 JPEG of the best face; only with the sink's includeCrop. */
  readonly crop?: string;
}

export interface StatusPayload {
  readonly kind: 'vigil.camera-status';
  readonly v: 1;
  readonly camera: string;
  readonly name: string | null;
  readonly state: CameraStatus['state'];
  readonly previous: CameraStatus['previous'];
  readonly at: string;
  readonly error: CameraStatus['error'];
}

export type SinkPayload = AlertPayload | StatusPayload;

/** The watchlist a match event was raised for (the most urgent list whose operating point the face met); none when the subject is on no list. */
export function eventLists(e: MatchEvent): string[] {
  return e.list === undefined ? [] : [e.list];
}

export interface PayloadOptions {
  readonly manifest?: Manifest;
  readonly publicUrl?: string;
  readonly includeCrop: boolean;
}

export function consoleLink(publicUrl: string | undefined, id: string): string | null {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/#/events/${encodeURIComponent(id)}` : null;
}

export function alertPayload(e: MatchEvent, o: PayloadOptions): AlertPayload {
  const cal = o.manifest?.profiles[e.profile]?.calibration;
  return {
    kind: 'vigil.alert',
    v: 1,
    id: e.id,
    revision: e.revision,
    type: e.type,
    camera: e.camera,
    subject: { id: e.subject.id, name: e.subject.name },
    lists: eventLists(e),
    similarity: e.similarity,
    firstSeenAt: e.firstSeenAt,
    alertAt: e.alertAt,
    capturedAt: e.capturedAt,
    box: e.box,
    related: e.related,
    provenance: {
      model: e.model,
      profile: e.profile,
      threshold: e.threshold,
      fpir: cal ? Number(fpirAt(cal, e.threshold)!.toPrecision(3)) : null,
      rule: e.rule,
      margin: e.margin,
    },
    url: consoleLink(o.publicUrl, e.id),
    ...(e.visitor ? { visitor: { number: e.visitor.number, pseudonym: e.visitor.pseudonym, visitsToday: e.visitor.visitsToday, visits: e.visitor.visits } } : {}),
    ...(o.includeCrop ? { crop: e.crop } : {}),
  };
}

export function statusPayload(s: CameraStatus): StatusPayload {
  return { kind: 'vigil.camera-status', v: 1, camera: s.camera, name: s.name, state: s.state, previous: s.previous, at: s.at, error: s.error };
}

/** The payload of a stored event, or null for kinds no sink sends (operator actions). */
export function toPayload(e: StoredEvent, o: PayloadOptions): SinkPayload | null {
  if (e.kind === 'match') return alertPayload(e, o);
  if (e.kind === 'camera-status') return statusPayload(e);
  return null;
}
