// Run events: the one in-process bus (one per ServiceContext, `ctx.events`) on which every change of a run's state is published. The catalog's
// run repository (the only code that changes a run's status) publishes each event once, right after its
// guarded statement changed the row; the job runner publishes `progress`. Everything that reacts to runs
// (the SSE stream, notifications, metrics, the dashboard) subscribes here; no subscriber writes a run's
// status. The bus is per process: in a cluster each process sees the events of the runs it changed, so a
// reaction that must happen once per run keys on the run's row in the catalog (its id), not on the process.

import { EventEmitter } from 'node:events';

export type RunType = 'backup' | 'restore' | 'drill';

/** Final statuses a run may end in (a backup may also end `partial`, a scheduled tick `skipped`). */
export type FinishedStatus = 'success' | 'partial' | 'failed' | 'interrupted' | 'skipped';

interface RunEventBase {
  runType: RunType;
  /** The journal row's id (backups.id, restores.id, …). */
  runId: string;
  /** The plan the run belongs to, when it has one. */
  planId: string | null;
  /** The target (database) the run reads or writes, when known. */
  targetId: string | null;
  /** ISO 8601 time of the change. */
  at: string;
}

export interface RunStartedEvent extends RunEventBase {
  type: 'started';
  trigger: string;
  kind?: string;
}

export interface RunProgressEvent extends RunEventBase {
  type: 'progress';
  /** Raw bytes so far. */
  bytes: number;
}

export interface RunCopyEvent extends RunEventBase {
  type: 'copy';
  destinationId: string;
  status: 'running' | 'success' | 'failed' | 'pruned';
  message?: string | null;
}

export interface RunFinishedEvent extends RunEventBase {
  type: 'finished';
  status: FinishedStatus;
  message: string | null;
  kind?: string;
  sizeBytes?: number | null;
  rawSizeBytes?: number | null;
  durationMs?: number | null;
}

export type RunEvent = RunStartedEvent | RunProgressEvent | RunCopyEvent | RunFinishedEvent;

/** Something that listens to run events. It must not throw; a listener that does is logged and ignored. */
export type RunListener = (event: RunEvent) => void;

/** The process's run event bus. */
export class RunEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  /** Publishes an event to every subscriber, synchronously; a throwing subscriber never reaches the publisher. */
  publish(event: RunEvent): void {
    for (const listener of this.#emitter.listeners('event') as RunListener[]) {
      try {
        listener(event);
      } catch {
        // A subscriber's bug must never fail or change the run that published the event.
      }
    }
  }

  /** Subscribes; the returned function unsubscribes. */
  subscribe(listener: RunListener): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
