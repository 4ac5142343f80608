export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '—';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s >= 0 ? `${age(s)} ago` : `in ${age(-s)}`;
}

export const short = (id: string | null | undefined) => (id ? id.slice(0, 10) : '—');

/**
 * `short` for ids shown side by side: each id's shortest prefix of at least 10 characters that no other of
 * `ids` shares (ids made in the same quarter second, a server run's rows, share their first 10).
 */
export function shortAmong(ids: Iterable<string>): (id: string | null | undefined) => string {
  const list = [...new Set(ids)];
  const lengths = new Map<string, number>();
  for (const id of list) {
    let n = 10;
    while (n < id.length && list.some((other) => other !== id && other.startsWith(id.slice(0, n)))) n++;
    lengths.set(id, n);
  }
  return (id) => (id ? id.slice(0, lengths.get(id) ?? 10) : '—');
}
