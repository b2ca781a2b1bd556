import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Api, errorText } from './api.js';
import { age } from './format.js';
import type { SinkStatus as BaseStatus } from '../../sinks/dispatcher.js';
import type { DeadLetter } from '../../sinks/state.js';

/** The outbound sinks (admin): each one's delivery state, dead-letter count, and a retry of its dead letters. */

/** GET /api/sinks: each sink's status (src/sinks) with its latest dead letters. */
type SinkStatus = BaseStatus & { readonly recentDeadLetters: readonly DeadLetter[] };

/** How often the panel re-reads GET /api/sinks while shown, ms. */
const POLL_MS = 3000;

export function SinksPanel({ api, now }: { api: Api; now: number }) {
  const [sinks, setSinks] = useState<SinkStatus[] | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const load = useCallback(() => {
    api.get<{ sinks: SinkStatus[] }>('/api/sinks').then(
      (b) => setSinks(b.sinks),
      (e: unknown) => setMessage(errorText(e)),
    );
  }, [api]);
  useEffect(() => {
    load();
    const t = setInterval(load, POLL_MS);
    return () => clearInterval(t);
  }, [load]);
  const retry = async (id: string): Promise<void> => {
    try {
      const r = await api.post<{ requeued: number }>(`/api/sinks/${encodeURIComponent(id)}/dead-letters/retry`, {});
      setMessage(`${id}: ${r.requeued} dead letter${r.requeued === 1 ? '' : 's'} queued for one more try.`);
      load();
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  return html`<section class="sinks" aria-label="Sinks">
    <h2 class="queue-title">Outbound sinks</h2>
    ${message && html`<p class="notice" role="status">${message}</p>`}
    ${sinks === null
      ? html`<p class="empty">Loading…</p>`
      : sinks.length === 0
        ? html`<p class="empty">No sinks configured (<code>sinks:</code> in the config: webhooks, MQTT).</p>`
        : html`<table>
            <thead><tr><th>Sink</th><th>State</th><th>Delivered</th><th>Failures in a row</th><th>Last error</th><th>Dead letters</th><th></th></tr></thead>
            <tbody>
              ${sinks.map(
                (s) => html`<tr data-sink=${s.id} class=${`sink sink-${s.state}`}>
                  <td><strong>${s.id}</strong> <span class="muted">${s.type}</span></td>
                  <td><span class="pill">${s.state}</span>${s.owner && s.state === 'standby' ? html` <span class="muted">(${s.owner} delivers)</span>` : ''}</td>
                  <td class="num">${s.delivered}${s.lastDeliveredAt ? html` <span class="muted">(last ${age(s.lastDeliveredAt, now)} ago)</span>` : ''}</td>
                  <td class="num">${s.consecutiveFailures}</td>
                  <td class="cam-error" title=${s.lastError ?? ''}>${s.lastError ?? ''}</td>
                  <td class="num dead" title=${s.recentDeadLetters.map((d) => `${d.eventId} (${d.kind}, ${d.attempts} tries): ${d.lastError}`).join('\n')}>${s.deadLetters}</td>
                  <td><button type="button" class="retry" disabled=${s.deadLetters === 0} onClick=${() => retry(s.id)}>Retry dead letters</button></td>
                </tr>`,
              )}
            </tbody>
          </table>`}
  </section>`;
}
