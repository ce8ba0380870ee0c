// Turning values into short readable strings. Pure functions; no DOM.

/** Control characters (ANSI escapes among them) shown as visible symbols, so they do nothing. */
export function inert(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => (c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0))));
}

export function age(ms: number, now = Date.now()): string {
  return `${duration(Math.max(0, now - ms))} ago`;
}

export function duration(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function cost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return '—';
  // Most jobs cost cents: four decimals as Claude Code prints them, two once past a dollar.
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function time(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return new Date(ms).toLocaleString();
}

/** Start to end, or start to now while running. */
export function runTime(job: { startedAt?: number | undefined; endedAt?: number | undefined }, now = Date.now()): string {
  if (job.startedAt === undefined) return '—';
  return duration((job.endedAt ?? now) - job.startedAt);
}

export function shorten(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A size in bytes as people read it: 812 B, 300 KB, 12.5 MB (1 KB = 1024 B). */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const [value, unit] = n < 1024 * 1024 ? [n / 1024, 'KB'] : [n / (1024 * 1024), 'MB'];
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}
