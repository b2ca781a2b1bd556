/** Display helpers: short, locale-independent, so every console shows the same text. */

/** "4 s", "3 min", "2 h 05 min", "3 d" since `iso`. */
export function age(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d`;
}

/** "2026-11-27 10:00:03" in the browser's time zone. */
export function clock(iso: string): string {
  const d = new Date(iso);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const fixed = (x: number, digits = 3): string => x.toFixed(digits);

/** 0.01 → "1%", 0.003 → "0.3%". */
export function percent(x: number): string {
  const p = x * 100;
  return `${p >= 1 ? p.toFixed(0) : p.toPrecision(1)}%`;
}

/** An image source for base64 JPEG data or a data URL; null when there is none. */
export function jpeg(data: string | null | undefined): string | null {
  if (!data) return null;
  return data.startsWith('data:image/') ? data : `data:image/jpeg;base64,${data}`;
}
