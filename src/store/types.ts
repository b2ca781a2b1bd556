import type { CameraStatus, MatchEvent, SightingMsg } from '../contracts/messages.js';

/**
 * The event store's contract: every match event, sighting, camera status change and operator action is
 * appended here before it is broadcast. Readers (the HTTP API, the WebSocket feed, webhook/MQTT
 * sinks, audit reports) page through it by an opaque, monotonically ordered cursor.
 * Implementations: SQLite (embedded mode and one broadcast service), PostgreSQL (shared by replicas).
 * Extend additively; never change a field's meaning without a new kind/version.
 */

/** Opaque to clients; compare only by handing it back to the store. */
export type Cursor = string;

export type AckState = 'acknowledged' | 'confirmed' | 'dismissed';

/** An operator's decision on an alert. `actor` names who (role and token label), never the token. */
export interface OperatorAction {
  readonly kind: 'ack';
  readonly v: 1;
  /** Alert id (MatchEvent.id). */
  readonly eventId: string;
  readonly state: AckState;
  readonly note: string | null;
  readonly actor: string;
  /** ISO 8601. */
  readonly at: string;
  /** The alert's camera and subject id (filled by the API), so filtered feeds and consoles place it without a lookup. */
  readonly camera?: string;
  readonly subjectId?: string;
}

/** A sighting (one face track of a listed person, sent when it ends), filed under its alert (`alertId`): consoles show "last seen" from these. */
export type SightingEvent = SightingMsg;

export type StoredPayload = MatchEvent | CameraStatus | OperatorAction | SightingEvent;

/** A payload as written, with its place in the store. */
export type StoredEvent<T extends StoredPayload = StoredPayload> = T & { readonly cursor: Cursor };

export interface EventFilter {
  readonly cameras?: readonly string[];
  readonly subjects?: readonly string[];
  /** 'alert' | 'update' (match events), 'camera-status', 'ack', 'sighting'. */
  readonly types?: readonly string[];
}

export interface EventPage {
  readonly events: readonly StoredEvent[];
  /** Cursor to pass as `after` for the next page; the newest cursor read (or `after` itself when empty). */
  readonly next: Cursor | null;
}

/** Read options beyond the filter (additive). */
export interface ReadOptions {
  /** Match events and sightings carry their base64 crop (default true; lists leave it out). */
  readonly crops?: boolean;
}

export interface EventStore {
  /** Writes one payload durably and returns it with its cursor. A match event already stored (same id and revision) is not written twice; the stored one is returned. */
  append<T extends StoredPayload>(payload: T): Promise<StoredEvent<T>>;
  /** Events strictly after `after` (from the oldest when null), oldest first. Throws VIGIL_ERR_… for a malformed or unknown cursor. */
  read(after: Cursor | null, limit: number, filter?: EventFilter, opts?: ReadOptions): Promise<EventPage>;
  /** The newest cursor, or null when empty. */
  head(): Promise<Cursor | null>;
  /** Events strictly before `before` (from the newest when null), newest first; `next` is the oldest cursor read, to page further back. */
  readBackward(before: Cursor | null, limit: number, filter?: EventFilter, opts?: ReadOptions): Promise<EventPage>;
  /** Each camera's latest status (cameras whose latest state is 'stopped' left out). */
  cameras(): Promise<StoredEvent<CameraStatus>[]>;
  /** The latest revision of an alert, with its acknowledgement state. */
  get(id: string): Promise<(StoredEvent<MatchEvent> & { readonly ack: OperatorAction | null }) | null>;
  /**
   * Calls `fn` with every event newly written (not for a repeated append of a stored one), in
   * cursor order, after it is durable: the live feed and sinks hang off this. Returns unsubscribe.
   */
  subscribe(fn: (e: StoredEvent) => void): () => void;
  /** Orders two cursors of this store (negative: a before b). Throws like read() for a bad one. */
  compare(a: Cursor, b: Cursor): number;
  close(): Promise<void>;
}
