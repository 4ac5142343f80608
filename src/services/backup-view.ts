// How a backup run is shown to users (CLI --json, API): one view of a journal row with its copies, and the
// outcome of a run (its finished view, with the error when it did not succeed).

import type { CoffreError } from '../core/errors.ts';
import type { BackupKind, CompressionName, EngineName, RawFormat } from '../core/types.ts';
import type { BackupRecord, BackupStatus, RunTrigger } from '../catalog/journal.ts';
import type { CopyView } from './copies.ts';
import { recordedRecipients } from './keys.ts';

/** A backup run as shown to users (CLI --json, API): the same fields in both. */
export interface BackupView {
  id: string;
  status: BackupStatus;
  kind: BackupKind;
  requestedKind: BackupKind;
  plan: string;
  target: string;
  engine: EngineName;
  database: string;
  compression: CompressionName;
  rawFormat: RawFormat | null;
  sizeBytes: number | null;
  rawSizeBytes: number | null;
  sha256: string | null;
  rawSha256: string | null;
  artifact: string | null;
  parentId: string | null;
  trigger: RunTrigger;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  tool: string | null;
  clientVersion: string | null;
  serverVersion: string | null;
  message: string | null;
  /** One entry per destination the artifact was sent to, with that upload's outcome. */
  copies: CopyView[];
  /** The age recipients (public keys) the artifact is encrypted to; empty when it is not encrypted. */
  recipients: string[];
  /** The latest `coffre verify` of this backup: when, its outcome and message (null until verified). */
  lastVerifiedAt: string | null;
  lastVerifyStatus: 'success' | 'failed' | null;
  lastVerifyMessage: string | null;
  /**
   * For a row imported by `coffre reindex`: `pending` until a person adopts it into a plan (until then it
   * counts for no plan and a restore of it needs an explicit target), then `adopted`. Null for coffre's own runs.
   */
  adoption: 'pending' | 'adopted' | null;
  adoptedAt: string | null;
  adoptedBy: string | null;
  /** The server run this row is one database of (null for a single-database target's row). */
  runId?: string | null;
  /** For a server run's row: 'database' or 'globals'. */
  runPart?: string | null;
  /** For a server run itself (its id is the group's): each database's row, the globals' too. */
  databases?: BackupView[];
  /** For a server run: the databases new since the previous run, and those gone since. */
  newDatabases?: string[];
  vanished?: string[];
  failedDatabases?: string[];
}

/** The public view of a journal row (with its copies when given). */
export function describeBackup(r: BackupRecord, copies: CopyView[] = []): BackupView {
  return {
    id: r.id,
    status: r.status,
    kind: r.kind as BackupKind,
    requestedKind: r.requestedKind as BackupKind,
    plan: r.planName,
    target: r.targetName,
    engine: r.engine as EngineName,
    database: r.database,
    compression: r.compression as CompressionName,
    rawFormat: r.rawFormat as RawFormat | null,
    sizeBytes: r.sizeBytes,
    rawSizeBytes: r.rawSizeBytes,
    sha256: r.sha256,
    rawSha256: r.rawSha256,
    artifact: r.artifactKey,
    parentId: r.parentId,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    tool: r.tool,
    clientVersion: r.clientVersion,
    serverVersion: r.serverVersion,
    message: r.message,
    copies,
    recipients: recordedRecipients(r),
    lastVerifiedAt: r.verifiedAt ?? null,
    lastVerifyStatus: (r.verifyStatus as 'success' | 'failed' | null | undefined) ?? null,
    lastVerifyMessage: r.verifyMessage ?? null,
    adoption: r.trigger !== 'reindex' ? null : r.adoptedAt ? 'adopted' : 'pending',
    adoptedAt: r.adoptedAt ?? null,
    adoptedBy: r.adoptedBy ?? null,
    ...(r.runId ? { runId: r.runId, runPart: r.runPart ?? 'database' } : {}),
  };
}

export interface RunOutcome<V> {
  view: V;
  /** Set when the run did not succeed. */
  error?: CoffreError;
}
