import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by n items; payload values show up after the bar (a loss, a file name). */
  tick(n?: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A bar with rate and ETA on stderr. Where stderr is no terminal (turbo's log, CI) it prints a
 * plain line every few seconds instead of redrawing, so logs stay readable.
 */
export function progressBar(label: string, total: number, unit = 'items'): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {rate}/s | ETA {remaining}{extra}`,
      stream: process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      hideCursor: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  const every = process.stderr.isTTY ? 200 : 5000;
  let lastDrawn = started;
  let done = 0;
  bar.start(total, 0, { rate: '0.0', remaining: '…', extra: '' });
  return {
    tick(n = 1, payload) {
      done += n;
      const seconds = (performance.now() - started) / 1000;
      const extra = payload
        ? ' | ' + Object.entries(payload).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' ')
        : '';
      const rate = done / Math.max(seconds, 1e-9);
      bar.update(done, { rate: rate.toFixed(1), remaining: formatEta((total - done) / rate), extra });
      // cli-progress redraws from a timer, which a training loop that never yields to the event
      // loop starves: draw on schedule from here instead.
      const now = performance.now();
      if (now - lastDrawn >= every) {
        lastDrawn = now;
        (bar as unknown as { render(): void }).render();
      }
    },
    stop() {
      bar.stop();
    },
  };
}

/** Seconds left as "1h02m", "4m05s" or "12s": whole seconds first, so that 179.6 s reads 3m00s, not 2m60s. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '…';
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${s}s`;
}
