// Output: progress on stderr (throttled), figures as readable lines on stdout.

export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A progress reporter that speaks at most every `everyMs`, plus whenever forced. */
export function throttled(everyMs = 5000): (msg: () => string, force?: boolean) => void {
  let last = 0;
  return (msg, force = false) => {
    const now = Date.now();
    if (!force && now - last < everyMs) return;
    last = now;
    progress(msg());
  };
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(46)} ${value}\n`);
}

export function heading(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

const group = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmt = {
  int: group,
  rate: (n: number) => `${group(n)}/s`,
  s: (ms: number) => `${(ms / 1000).toFixed(1)} s`,
  ms: (ms: number) => (ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`),
  mb: (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`,
  ratio: (x: number) => x.toFixed(3),
};

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
