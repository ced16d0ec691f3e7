/**
 * Progress of long CLI work (`herald recipients import`, `herald jobs replay --all`) for the
 * person at the terminal: one line on stderr, redrawn in place at most ten times a second, with
 * the count, the rate and, when the whole is known, the percent and the time left. Only on a
 * terminal: piped or redirected, stderr gets nothing from here (the command's summary is its
 * last word). `HERALD_PROGRESS=always` or `never` overrides the terminal check.
 */

/** The fewest milliseconds between two redraws. */
const REDRAW_MS = 100;

export interface ProgressOptions {
  /** What is done, as a participle: `importing`, `replaying`. */
  doing: string;
  /** What is counted, plural: `recipients`, `jobs`. */
  what: string;
  /** How many there are in all, when known before (percent and time left come from it). */
  total?: number;
  stream?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export interface Progress {
  /**
   * `done` so far; `fraction` (0..1) of the whole when it is measured otherwise than by a total
   * count (the bytes read of a file).
   */
  update(done: number, fraction?: number): void;
  /** Writes a whole line (a bad input's report) on stderr, above the progress line. */
  note(line: string): void;
  /** Clears the progress line; the caller prints its summary after. */
  end(): void;
}

/** Whether progress is drawn on `stream`: a terminal, unless HERALD_PROGRESS says otherwise. */
export function showsProgress(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  const setting = env.HERALD_PROGRESS?.toLowerCase();
  if (setting === 'always') return true;
  if (setting === 'never') return false;
  return stream.isTTY === true;
}

export interface ProgressState {
  doing: string;
  what: string;
  done: number;
  total?: number | undefined;
  fraction?: number | undefined;
  elapsedMs: number;
}

/** The progress line: `importing recipients: 1,200  60%  850/s  1 s left`. */
export function progressLine(s: ProgressState): string {
  const parts = [`${s.doing} ${s.what}: ${s.done.toLocaleString('en-US')}`];
  const fraction =
    s.fraction ?? (s.total !== undefined && s.total > 0 ? s.done / s.total : undefined);
  if (fraction !== undefined) parts.push(`${Math.min(100, Math.floor(fraction * 100))}%`);
  // A rate over less than a fifth of a second says more about the timer than the work.
  if (s.elapsedMs >= 200) {
    const rate = (s.done * 1000) / s.elapsedMs;
    parts.push(`${Math.round(rate).toLocaleString('en-US')}/s`);
    if (fraction !== undefined && fraction > 0 && fraction < 1) {
      parts.push(`${left((s.elapsedMs * (1 - fraction)) / fraction)} left`);
    }
  }
  return parts.join('  ');
}

function left(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function makeProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const started = now();
  if (!showsProgress(stream, options.env ?? process.env)) {
    return {
      update() {},
      note: (line) => void stream.write(`${line}\n`),
      end() {},
    };
  }
  let drawnAt = -Infinity;
  let shown = false;
  let last: { done: number; fraction?: number | undefined } = { done: 0 };
  const clear = () => {
    if (shown) stream.write('\r\x1b[K');
    shown = false;
  };
  const draw = () => {
    drawnAt = now();
    const line = progressLine({
      doing: options.doing,
      what: options.what,
      done: last.done,
      total: options.total,
      fraction: last.fraction,
      elapsedMs: drawnAt - started,
    });
    // Cut to the terminal's width: a line that wraps cannot be redrawn in place.
    const width = stream.columns > 1 ? stream.columns - 1 : line.length;
    stream.write(`\r${line.slice(0, width)}\x1b[K`);
    shown = true;
  };
  return {
    update(done, fraction) {
      last = { done, fraction };
      if (now() - drawnAt >= REDRAW_MS) draw();
    },
    note(line) {
      clear();
      stream.write(`${line}\n`);
      if (now() - drawnAt >= REDRAW_MS) draw();
    },
    end: clear,
  };
}
