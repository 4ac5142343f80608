// The timer both schedulers run on (scheduler.ts for backups, drills.ts for restore drills): it keeps each
// scheduled item with its next tick (croner's time, not the wake-up time), sleeps until the earliest tick or
// the next re-read of the plans, and fires each due tick. The plans are re-read every `reloadMs` and at once
// when one changes (services/plans.ts onPlanChange): an item whose schedule is unchanged keeps its next tick.
// After a long pause (a suspended machine, a blocked loop) only the latest due tick of an item fires.
// What a tick does (claim it, run it, skip it) is the owner's `fire`.

import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { lastRunBefore, nextRun, type Schedule } from '../core/cron.ts';
import { onPlanChange } from '../services/plans.ts';

/** One item to schedule, as the owner lists it. */
export interface Scheduled<T> {
  /** Stable across re-reads (a plan's id). */
  key: string;
  /** For logs (a plan's name). */
  name: string;
  schedule: Schedule;
  item: T;
}

export interface TickLoopOptions<T> {
  /** Prefix of the log lines ("scheduler", "drills"). */
  label: string;
  /** How often the items are re-read, in ms. */
  reloadMs: number;
  log: (line: string) => void;
  /** What to schedule now (read from the catalog). */
  list(): Promise<Scheduled<T>[]>;
  /** Fires one due tick of an item; never rejects (the owner logs its own failures). */
  fire(item: T, tick: Date): Promise<unknown>;
  /** The log line for an item whose schedule croner refuses. */
  unusable(name: string, message: string): string;
}

interface Entry<T> extends Scheduled<T> {
  next: Date | null;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

export class TickLoop<T> {
  readonly #options: TickLoopOptions<T>;
  #entries = new Map<string, Entry<T>>();
  #timer: NodeJS.Timeout | undefined;
  #nextReloadAt = 0;
  #stopped = true;
  #busy: Promise<void> = Promise.resolve();
  #unlisten: (() => void) | undefined;

  constructor(options: TickLoopOptions<T>) {
    this.#options = options;
  }

  /** The items scheduled now, with their next tick. */
  entries(): Array<Readonly<Entry<T>>> {
    return [...this.#entries.values()];
  }

  /** Re-reads the items: new, changed and removed ones take effect now. */
  async reload(now = new Date()): Promise<void> {
    const next = new Map<string, Entry<T>>();
    for (const s of await this.#options.list()) {
      const old = this.#entries.get(s.key);
      if (old && old.schedule.cron === s.schedule.cron && old.schedule.timezone === s.schedule.timezone) {
        next.set(s.key, { ...s, next: old.next });
        continue;
      }
      try {
        next.set(s.key, { ...s, next: nextRun(s.schedule, now) });
        if (!old) this.#options.log(`${this.#options.label}: plan ${s.name} "${s.schedule.cron}" (${s.schedule.timezone})`);
      } catch (err) {
        this.#options.log(this.#options.unusable(s.name, asCoffreError(err).message));
      }
    }
    this.#entries = next;
    this.#nextReloadAt = now.getTime() + this.#options.reloadMs;
  }

  /** Starts waiting for ticks (after a first reload()), and re-reads at once whenever a plan changes. */
  run(): void {
    this.#stopped = false;
    this.#unlisten = onPlanChange(() => {
      this.#nextReloadAt = 0;
      this.#arm(0);
    });
    this.#arm();
  }

  /** Stops firing ticks; resolves once a wake-up under way has fired its ticks. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    clearTimeout(this.#timer);
    await this.#busy;
  }

  #arm(delayOverride?: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    let wake = this.#nextReloadAt;
    for (const e of this.#entries.values()) if (e.next && e.next.getTime() < wake) wake = e.next.getTime();
    const delay = delayOverride ?? Math.min(Math.max(wake - Date.now(), 0), MAX_TIMEOUT);
    this.#timer = setTimeout(() => {
      this.#busy = this.#wake().finally(() => this.#arm());
    }, delay);
  }

  async #wake(): Promise<void> {
    if (this.#stopped) return;
    let now = new Date();
    if (now.getTime() >= this.#nextReloadAt) {
      try {
        await this.reload(now);
      } catch (err) {
        this.#options.log(`${this.#options.label}: could not re-read the plans: ${redact(asCoffreError(err).message)}`);
        this.#nextReloadAt = now.getTime() + this.#options.reloadMs;
      }
    }
    now = new Date();
    const due = [...this.#entries.values()].filter((e) => e.next && e.next.getTime() <= now.getTime());
    await Promise.all(
      due.map(async (e) => {
        const tick = lastRunBefore(e.schedule, now, new Date(e.next!.getTime() - 1)) ?? e.next!;
        e.next = nextRun(e.schedule, now);
        if (!this.#stopped) await this.#options.fire(e.item, tick);
      }),
    );
  }
}
