import type { RunObserver } from '../engine/observer.js';
import type { StageOutcome } from '../engine/run.js';
import type { Logger, ProgressReporter } from '../engine/stage.js';
import type { LockOwner } from '../engine/lock.js';
import { formatSeconds } from './format.js';

interface Phase {
  total: number;
  done: number;
  unit: string;
  label: string;
  info: Record<string, string | number>;
  startedAt: number;
  /** Non-TTY throttling: when and at what fraction we last printed. */
  lastPrintAt: number;
  lastPrintFrac: number;
}

interface Active {
  name: string;
  startedAt: number;
  phase?: Phase;
}

// Non-TTY: a line per 10 % of progress (but not more than one a second), or every 5 s.
const PLAIN_EVERY_MS = 5000;
const PLAIN_MIN_MS = 1000;
const PLAIN_EVERY_FRAC = 0.1;
const REDRAW_MS = 100;

/**
 * Renders a run on stderr: one status line per stage (cached / running / done with time);
 * on a TTY, live bars for running stages with counts, info fields and ETA; elsewhere, plain
 * progress lines at most every 5 s or 10 %.
 */
export class ProgressView implements RunObserver {
  private readonly active = new Map<string, Active>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty: boolean = Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb',
    now: () => number = () => Date.now(),
  ) {
    this.now = now;
  }

  /** Print a permanent line (above the live bars on a TTY). */
  line(text: string): void {
    if (this.tty) {
      this.clear();
      this.out.write(text + '\n');
      this.draw();
    } else this.out.write(text + '\n');
  }

  stageStarted(name: string, _kind: string, fingerprint: string): void {
    this.active.set(name, { name, startedAt: this.now() });
    if (!this.tty) this.line(`▶ ${name}  running  ${fingerprint.slice(0, 8)}`);
    this.schedule();
  }

  stageWaiting(name: string, owner: LockOwner | undefined, message?: string): void {
    this.line(`… ${name}  ${message ?? `waiting for another run${owner ? ` (pid ${owner.pid})` : ''} computing it`}`);
  }

  stageFinished(o: StageOutcome): void {
    this.active.delete(o.name);
    const fp = o.fingerprint ? o.fingerprint.slice(0, 8) : '';
    const summary = o.result.summary ? `  ${o.result.summary}` : '';
    switch (o.status) {
      case 'cached':
        this.line(`• ${o.name}  cached  ${fp}${summary}`);
        break;
      case 'ran':
        this.line(`✔ ${o.name}  ran ${formatSeconds(o.seconds)}  ${fp}${summary}`);
        break;
      case 'failed':
        this.line(`✖ ${o.name}  failed after ${formatSeconds(o.seconds)}`);
        break;
      case 'interrupted':
        this.line(`✖ ${o.name}  interrupted`);
        break;
      case 'skipped':
        this.line(`- ${o.name}  skipped (an earlier stage failed)`);
        break;
    }
    if (!this.active.size) this.stop();
  }

  warn(message: string): void {
    this.line(`! ${message}`);
  }

  logger(stage: string): Logger {
    return {
      info: (m) => this.line(`  ${stage}: ${m}`),
      warn: (m) => this.line(`! ${stage}: ${m}`),
    };
  }

  progress(stage: string): ProgressReporter {
    const get = () => this.active.get(stage);
    return {
      start: (total, unit, label) => {
        const a = get();
        if (!a) return;
        a.phase = { total, done: 0, unit, label: label ?? '', info: {}, startedAt: this.now(), lastPrintAt: this.now(), lastPrintFrac: 0 };
        this.schedule();
      },
      tick: (n = 1, info) => {
        const p = get()?.phase;
        if (!p) return;
        p.done = Math.min(p.total, p.done + n);
        if (info) p.info = { ...p.info, ...info };
        this.maybePlain(stage, p);
      },
      label: (text) => {
        const p = get()?.phase;
        if (p) p.label = text;
      },
      done: () => {
        const a = get();
        // The closing count of a phase, unless it was too quick to be worth a line.
        if (a?.phase && !this.tty && a.phase.lastPrintFrac < 1 && a.phase.total > 0 && this.now() - a.phase.startedAt >= PLAIN_MIN_MS) {
          a.phase.done = a.phase.total;
          this.line(`  ${stage}  ${this.describe(a.phase)}`);
        }
        if (a) a.phase = undefined;
      },
    };
  }

  /** `label 120/480 files (25%)  loss=0.53  ETA 12s` */
  private describe(p: Phase): string {
    const frac = p.total > 0 ? p.done / p.total : 0;
    const parts = [`${p.label ? p.label + ' ' : ''}${p.done}/${p.total} ${p.unit} (${Math.floor(frac * 100)}%)`];
    const info = Object.entries(p.info).map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : v}`);
    if (info.length) parts.push(info.join(' '));
    const eta = this.eta(p);
    if (eta !== undefined) parts.push(`ETA ${formatSeconds(eta)}`);
    return parts.join('  ');
  }

  private eta(p: Phase): number | undefined {
    const elapsed = (this.now() - p.startedAt) / 1000;
    if (p.done <= 0 || elapsed < 0.5 || p.done >= p.total) return undefined;
    return ((p.total - p.done) * elapsed) / p.done;
  }

  private maybePlain(stage: string, p: Phase): void {
    if (this.tty) return;
    const frac = p.total > 0 ? p.done / p.total : 0;
    const t = this.now();
    const since = t - p.lastPrintAt;
    if ((frac - p.lastPrintFrac >= PLAIN_EVERY_FRAC && since >= PLAIN_MIN_MS) || since >= PLAIN_EVERY_MS) {
      p.lastPrintAt = t;
      p.lastPrintFrac = frac;
      this.out.write(`  ${stage}  ${this.describe(p)}\n`);
    }
  }

  private bar(frac: number, width: number): string {
    const full = Math.round(frac * width);
    return '█'.repeat(full) + '░'.repeat(width - full);
  }

  private render(): string[] {
    const cols = this.out.columns || 100;
    const lines: string[] = [];
    for (const a of this.active.values()) {
      const p = a.phase;
      const elapsed = formatSeconds((this.now() - a.startedAt) / 1000);
      const text = p ? `  ${a.name} ${this.bar(p.total > 0 ? p.done / p.total : 0, 20)} ${this.describe(p)}` : `  ${a.name} running ${elapsed}`;
      lines.push([...text].slice(0, cols - 1).join(''));
    }
    return lines;
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.tty) return;
    const lines = this.render();
    if (lines.length) this.out.write(lines.join('\n') + '\n');
    this.drawn = lines.length;
  }

  private schedule(): void {
    if (!this.tty || this.timer) return;
    this.timer = setInterval(() => {
      this.clear();
      this.draw();
    }, REDRAW_MS);
    this.timer.unref();
  }

  /** Remove the bars (end of run). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.clear();
  }
}
