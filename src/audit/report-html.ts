import type { SightingMsg } from '../contracts/messages.js';

/** What the HTML report shows; every image is a data: URI so the file stands alone. */
export interface ReportView {
  readonly title: string;
  readonly createdAt: string;
  readonly vigilVersion: string;
  readonly profile: string;
  readonly models: readonly { readonly id: string; readonly license: string; readonly sha256: string }[];
  readonly operatingPoint: string;
  readonly watchlistSha256: string;
  readonly auditHead: { readonly size: number; readonly head: string };
  readonly files: readonly {
    readonly file: string;
    readonly camera: string;
    readonly sha256: string;
    readonly bytes: number;
    readonly duration: number | null;
    readonly resolution: string;
    readonly frames: number;
    readonly status: string;
    readonly alerts: number;
    readonly sightings: number;
    readonly unknownAppearances: number;
  }[];
  readonly people: readonly {
    readonly id: string;
    readonly name: string;
    /** data: URI of the first enrollment photo, or null when it is no longer stored */
    readonly enrolled: string | null;
    readonly sightings: readonly (SightingMsg & { readonly file: string; readonly cropUri: string })[];
  }[];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const secs = (v: number | null): string => (v === null ? '–' : `${v.toFixed(1)} s`);
const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function timeline(file: ReportView['files'][number], people: ReportView['people']): string {
  const d = file.duration;
  if (!d) return '';
  const spans = people.flatMap((p, pi) =>
    p.sightings
      .filter((s) => s.camera === file.camera && s.firstMediaTime !== null)
      .map((s) => {
        const x = (100 * s.firstMediaTime!) / d;
        const w = Math.max(0.6, (100 * ((s.lastMediaTime ?? s.firstMediaTime!) - s.firstMediaTime!)) / d);
        return `<div class="span c${pi % 6}" style="left:${x.toFixed(2)}%;width:${w.toFixed(2)}%" title="${esc(p.name)} ${secs(s.firstMediaTime)}–${secs(s.lastMediaTime)}"></div>`;
      }),
  );
  return `<div class="timeline"><div class="axis">0 s</div>${spans.join('')}<div class="axis end">${d.toFixed(1)} s</div></div>`;
}

/** The self-contained report: who was seen, where and when, next to their enrollment photo. */
export function renderReport(v: ReportView): string {
  const legend = v.people.map((p, i) => `<span class="chip c${i % 6}"></span>${esc(p.name)}`).join(' &nbsp; ');
  const files = v.files
    .map(
      (f) => `<tr><td><b>${esc(f.file)}</b><br><code>sha256 ${f.sha256}</code></td><td>${f.duration === null ? '–' : `${f.duration.toFixed(1)} s`}, ${esc(f.resolution)}, ${f.frames} frames sampled, ${(f.bytes / 1e6).toFixed(2)} MB</td>
<td class="${f.status === 'complete' ? 'ok' : 'bad'}">${esc(f.status)}</td><td>${f.alerts} alert(s), ${f.sightings} sighting(s), ${f.unknownAppearances} unknown appearance(s)</td></tr>
<tr><td colspan="4">${timeline(f, v.people)}</td></tr>`,
    )
    .join('\n');
  const people = v.people
    .map(
      (p) => `<section class="person"><h2>${esc(p.name)} <small>[${esc(p.id)}]</small> — ${p.sightings.length} sighting(s)</h2>
<div class="row"><figure class="enrolled">${p.enrolled ? `<img src="${p.enrolled}" alt="enrollment photo of ${esc(p.name)}">` : '<div class="missing">photo removed</div>'}<figcaption>enrolled photo</figcaption></figure>
<table class="sightings"><thead><tr><th>captured face</th><th>when</th><th>file / camera</th><th>similarity</th><th>alert</th></tr></thead><tbody>
${p.sightings
  .map(
    (s) => `<tr><td><img class="crop" src="${s.cropUri}" alt="captured face"></td><td>${secs(s.firstMediaTime)} – ${secs(s.lastMediaTime)} of the recording<br><small>${when(s.firstSeenAt)} → ${when(s.lastSeenAt)}; best face at ${secs(s.bestMediaTime)}, ${s.faces} face(s)</small></td>
<td>${esc(s.file)}<br><small>camera ${esc(s.camera)}</small></td><td><b>${s.similarity.toFixed(3)}</b><br><small>threshold ${s.threshold.toFixed(3)}</small></td><td><code>${s.alertId}</code></td></tr>`,
  )
  .join('\n')}
</tbody></table></div></section>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(v.title)}</title>
<style>
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:24px;max-width:1050px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
small,.meta{color:#57606a}code{font-size:11px;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:5px 6px;vertical-align:top;text-align:left}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.op{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0}
.row{display:flex;gap:16px;align-items:flex-start}.enrolled{margin:0;flex:0 0 150px;text-align:center}
.enrolled img{width:150px;border-radius:4px;border:1px solid #d0d7de}.crop{width:96px;height:auto;border-radius:4px;border:1px solid #d0d7de}
.missing{width:150px;height:150px;background:#eee;display:flex;align-items:center;justify-content:center}
.timeline{position:relative;height:18px;background:#f0f3f6;border-radius:3px;margin:2px 40px}
.timeline .span{position:absolute;top:2px;height:14px;border-radius:2px;opacity:.85}
.axis{position:absolute;left:-38px;top:1px;font-size:10px;color:#57606a}.axis.end{left:auto;right:-40px}
.chip{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.c0{background:#0969da}.c1{background:#bf3989}.c2{background:#1a7f37}.c3{background:#9a6700}.c4{background:#8250df}.c5{background:#cf222e}
section.person{page-break-inside:avoid}tr{page-break-inside:avoid}
</style></head><body>
<h1>${esc(v.title)}</h1>
<div class="meta">created ${when(v.createdAt)} by Vigil ${esc(v.vigilVersion)} · model profile "${esc(v.profile)}" (${v.models.map((m) => `${esc(m.id)}: ${esc(m.license)}`).join('; ')}) · watchlist sha256 <code>${v.watchlistSha256.slice(0, 16)}…</code> · audit log head #${v.auditHead.size} <code>${v.auditHead.head.slice(0, 16)}…</code></div>
<div class="op"><b>Operating point.</b> ${esc(v.operatingPoint)}</div>
<h2>Files</h2>
<table><thead><tr><th>file</th><th>recording</th><th>status</th><th>found</th></tr></thead><tbody>${files}</tbody></table>
<p>${legend}</p>
${people || '<p>No person on the watchlist was seen in these files.</p>'}
<p class="meta">Every file of this bundle is listed with its sha256 in manifest.json; sightings.csv and events.jsonl hold the same records as data. A sighting is one continuous appearance (face track) of a listed person; several sightings may belong to one alert.</p>
</body></html>`;
}
