// Formatting of numbers, durations and dates for display.

const nf = new Intl.NumberFormat();
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

export function count(n: number | null | undefined): string {
  return nf.format(n ?? 0);
}

export function views(n: number | null | undefined): string {
  const v = n ?? 0;
  return `${v >= 10000 ? compact.format(v) : nf.format(v)} ${v === 1 ? 'view' : 'views'}`;
}

/** 75.4 → "1:15", 3725 → "1:02:05". */
export function duration(secs: number | null | undefined): string {
  if (secs == null || !Number.isFinite(secs) || secs < 0) return '–';
  const s = Math.floor(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** A duration spelled out, for screen readers: "1 minute 15 seconds". */
export function durationWords(secs: number | null | undefined): string {
  if (secs == null || !Number.isFinite(secs)) return 'unknown length';
  const s = Math.floor(secs);
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) parts.push(`${h} hour${h === 1 ? '' : 's'}`);
  if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (r || !parts.length) parts.push(`${r} second${r === 1 ? '' : 's'}`);
  return parts.join(' ');
}

const df = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function date(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : df.format(d);
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '–';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const secs = Math.round((t - Date.now()) / 1000);
  const abs = Math.abs(secs);
  if (abs < 60) return rtf.format(secs, 'second');
  if (abs < 3600) return rtf.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), 'hour');
  if (abs < 86400 * 30) return rtf.format(Math.round(secs / 86400), 'day');
  return date(iso);
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${units[i]}`;
}

export const STATE_LABEL: Record<string, string> = {
  awaiting_upload: 'Waiting for the file',
  uploading: 'Uploading',
  queued: 'Queued for processing',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};
