import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { AckState } from '../../store/types.js';
import { age, clock, fixed, jpeg } from './format.js';
import type { AlertView, Sightings, Subject } from './state.js';

/** One alert in the queue: both faces, the facts an operator decides on, and the decision. */

const ACTIONS: readonly [AckState, string][] = [
  ['acknowledged', 'Acknowledge'],
  ['confirmed', 'Confirm'],
  ['dismissed', 'Dismiss as false'],
];

/** Why each decision button exists, on hover. */
const HELP: Readonly<Record<AckState, string>> = {
  acknowledged: 'Seen; being handled',
  confirmed: 'The match is right: this is the person',
  dismissed: 'Not this person: the captured face is kept as a negative example of the subject, so the same look-alike does not alert again at a similar similarity',
};

interface CardProps {
  readonly alert: AlertView;
  /** The watchlist the alert matched through (its colour, when set). */
  readonly list?: { readonly name: string; readonly colour: string | null };
  readonly subject: Subject | undefined;
  /** The alert's sightings (face tracks, each sent when it ends); undefined until the first one. */
  readonly sightings?: Sightings;
  readonly now: number;
  acknowledge(id: string, state: AckState, note: string): Promise<void>;
  markSeen(): void;
}

export function AlertCard({ alert, subject, list, sightings, now, acknowledge, markSeen }: CardProps) {
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
  return html`<li class=${`alert${ack ? ` acked ack-${ack.state}` : ''}${alert.unseenUpdate ? ' updated' : ''}`} data-alert=${e.id} data-revision=${e.revision} data-state=${ack?.state ?? 'open'} data-list=${e.list}>
    <div class="faces">
      <${Face} src=${jpeg(e.crop)} label="Captured" alt=${`Face captured on ${e.camera}`} />
      ${e.visitor
        ? html`<figure class="face"><div class="noface" role="img" aria-label="not on the watchlist">?</div><figcaption>Not enrolled</figcaption></figure>`
        : html`<${Face} src=${jpeg(subject?.thumbnail)} label="Enrolled" alt=${`Enrollment photo of ${e.subject.name}`} />`}
    </div>
    <div class="facts">
      <h3>
        <span class="name">${e.subject.name}</span>
        ${list &&
        html`<span class="chip list" style=${list.colour ? { borderColor: list.colour, color: list.colour } : undefined} title=${`watchlist ${list.name}${e.priority !== undefined ? `, priority ${e.priority}` : ''}`}>
          ${list.name}${e.priority !== undefined ? html` <span class="prio">P${e.priority}</span>` : ''}
        </span>`}
        ${alert.updates > 0 &&
        html`<button type="button" class=${`badge${alert.unseenUpdate ? ' new' : ''}`} onClick=${markSeen} title="Better faces of this appearance arrived; click to mark seen">
          ${alert.updates} update${alert.updates === 1 ? '' : 's'}
        </button>`}
      </h3>
      ${e.visitor &&
      html`<p class="visitor-line" title="An unknown face at a camera where visitors.alertCameras asks for an alert">
        ${e.subject.name} at ${e.camera}, ${e.visitor.visitsToday} visit${e.visitor.visitsToday === 1 ? '' : 's'} today${e.visitor.isNew ? ' (first seen now)' : ''}
      </p>`}
      <dl>
        <div><dt>Similarity</dt><dd class="num">${fixed(e.similarity)} <span class="muted">(threshold ${fixed(e.threshold)})</span></dd></div>
        <div><dt>Margin to runner-up</dt><dd class="num">${runnerUp ? `${fixed(e.margin)} (${runnerUp.subject.name})` : `${fixed(e.margin)} (no other candidate)`}</dd></div>
        <div><dt>Rule</dt><dd>${e.visitor ? 'unknown visitor (k of n faces matched nobody on the watchlist)' : e.rule === 'strong' ? 'strong (one face well above threshold)' : 'k-of-n (repeated faces above threshold)'}</dd></div>
        <div><dt>Camera</dt><dd>${e.camera}${e.related ? ` (seen before on ${e.related.camera})` : ''}</dd></div>
        <div><dt>Captured at</dt><dd><time datetime=${e.alertAt}>${clock(e.alertAt)}</time> <span class="muted">(${age(e.alertAt, now)} ago)</span></dd></div>
      </dl>
      ${sightings &&
      html`<p class="last-seen" data-sightings=${sightings.ids.size} title="A sighting is one continuous appearance (face track) of this person; several may belong to one alert">
        last seen <time datetime=${sightings.lastSeenAt} title=${clock(sightings.lastSeenAt)}>${age(sightings.lastSeenAt, now)} ago</time> · ${sightings.ids.size} sighting${sightings.ids.size === 1 ? '' : 's'}
      </p>`}
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
            html`<button type="button" class=${`act act-${state}`} disabled=${busy} aria-pressed=${ack?.state === state} title=${HELP[state]} onClick=${() => act(state)}>${text}</button>`,
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
