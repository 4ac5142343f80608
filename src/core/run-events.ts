// Run events: the one in-process bus (one per ServiceContext, `ctx.events`) on which every change of a run's state is published. The catalog's
// run repository (the only code that changes a run's status) publishes each event once, right after its
// guarded statement changed the row; the job runner publishes `progress`. What reacts to runs as they
// happen subscribes here (notifications; the SSE stream, through the job channel below); no subscriber writes
// a run's status, and what reads health (metrics, /api/status) reads the catalog. The bus is per process: in a cluster each process sees the events of the runs it changed. Since every
// change is a guarded statement (finish only while `running`, …), exactly one process's statement changes the
// row, and only that process publishes: each change of a run is published once in the whole cluster (at most
// once: a process that dies between its statement and its publish loses the event; the journal row stays the
// truth). `host` and `pid` say which process runs the run (the row's own columns).
//
// The bus also carries the job runner's job events (`job.queued` … `job.finished`, src/services/jobs.ts) on a
// channel of their own: the SSE stream (/api/events) is one subscriber of both.

import { EventEmitter } from 'node:events';

/** `server`: a server target's run as a whole (its group); each of its databases is a `backup` of its own. */
export type RunType = 'backup' | 'restore' | 'drill' | 'server';

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
  /** The machine and process running the run, as its row says (null for a row made by `coffre reindex`). */
  host?: string | null;
  pid?: number | null;
  /**
   * For one database's backup of a server run: the run (`server` event) it belongs to. A subscriber that
   * speaks of a plan's health (notifications) acts on the run's events, not on each database's.
   */
  serverRunId?: string | null;
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

export type JobEventType = 'job.queued' | 'job.started' | 'job.progress' | 'job.finished';

/** A background job's change, published by the job runner; `seq` increases (the SSE event id), `job` is its view. */
export interface JobEvent<J = unknown> {
  seq: number;
  type: JobEventType;
  job: J;
}

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

  /** Publishes a job event (the job runner only), synchronously, as publish does. */
  publishJob(event: JobEvent): void {
    for (const listener of this.#emitter.listeners('job') as Array<(e: JobEvent) => void>) {
      try {
        listener(event);
      } catch {
        // as in publish
      }
    }
  }

  /** Subscribes to job events; the returned function unsubscribes. */
  subscribeJobs<J>(listener: (event: JobEvent<J>) => void): () => void {
    const l = listener as (e: JobEvent) => void;
    this.#emitter.on('job', l);
    return () => this.#emitter.off('job', l);
  }
}
