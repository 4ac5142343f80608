// `coffre backup`, `restore`, `journal` and `verify`: the runs and their journal. With --json, backup,
// restore and verify print one object and journal an array, with the same field names as the API.

// The services are loaded by the command that runs (a backup need not load the restore and verify
// pipelines); only their types are imported here.
import type { BackupView } from '../../services/backups.ts';
import type { RestoreView } from '../../services/restores.ts';
import { userInfo } from 'node:os';
import type { DrillView } from '../../services/drills.ts';
import { usageError } from '../../core/errors.ts';
import { backupStatuses, getBackup } from '../../catalog/journal.ts';
import { optional, parse, positional } from '../args.ts';
import { withContext, withInterrupt } from '../context.ts';
import { formatBytes, formatDuration, formatTime, printJson, printRows, printTable, progressLine, reportError, type Io } from '../output.ts';

export const help = `coffre backup PLAN [--compression FMT] [--kind full|differential|incremental]   run a backup now
coffre restore JOURNAL_ID [--to TARGET] [--replace]      restore a backup (sha256 checked first; into a server target: the database of the same name)
coffre restore RUN_ID --to SERVER_TARGET [--replace]     restore every database of a server run, each into the one of the same name
coffre restore RUN_ID --globals --to SERVER_TARGET       restore a PostgreSQL server run's roles (missing ones only; existing skipped)
coffre restore --file PATH --to TARGET [--replace]       restore a dump file (also an age file) or pg_dump folder (--file - reads stdin;
        [--file PATH2 ...] [--database NAME] [--allow-program]  several --file: one SQL run, in order)
      restore and verify of encrypted backups: [--identity KEY_FILE ...] [--identity-env VAR ...]
coffre journal [--plan P] [--status S] [--limit N]       list backup runs, newest first
coffre journal --restores [--limit N]                    list restore runs, newest first
coffre journal adopt JOURNAL_ID [ID ...] [--plan P]      take rows imported by \`coffre reindex\` into a plan (until then they
                                                         count for no plan, and restoring one needs --to)
coffre journal --drills [--plan P] [--limit N]           list restore drills, newest first (each check, the RTO)
coffre verify JOURNAL_ID                                 re-hash, decrypt and decompress a stored backup`;

const identityFlags = { identity: { type: 'string', multiple: true }, 'identity-env': { type: 'string', multiple: true } } as const;

/** The --identity files and --identity-env variables given. */
function identitySources(p: ReturnType<typeof parse>): { files: string[]; env: string[] } {
  const list = (name: string) => {
    const v = p.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  };
  return { files: list('identity'), env: list('identity-env') };
}

function short(sha: string | null): string {
  return sha ? sha.slice(0, 16) : '-';
}

/** "2/2", or "1/2 s3:failed" naming each copy that is not landed; "-" for rows without copies. */
function copiesCell(r: BackupView): string {
  if (r.copies.length === 0) return '-';
  const ok = r.copies.filter((c) => c.status === 'success').length;
  const others = r.copies.filter((c) => c.status !== 'success').map((c) => `${c.destination}:${c.status}`);
  return [`${ok}/${r.copies.length}`, ...others].join(' ');
}

/** `coffre backup PLAN`. */
export async function backup(args: string[], io: Io): Promise<number> {
  const p = parse('backup', args, { compression: { type: 'string' }, kind: { type: 'string' } }, 1);
  const plan = positional(p, 0, 'a PLAN', 'backup');
  const [{ runBackupThenPrune }, { withNotifications }] = await Promise.all([import('../../services/plan-run.ts'), import('../../services/notifications.ts')]);
  const progress = progressLine(io, 'dumped');
  // A backup from the command line (a system crontab, say) notifies as one inside `coffre serve` does; its
  // deliveries are flushed, bounded by NOTIFY_FLUSH_SECONDS, before the command exits.
  const outcome = await withContext(io, (ctx) =>
    withNotifications(
      ctx,
      () =>
        withInterrupt(async (signal) => {
          // The plan's retention runs after each successful backup; a failed prune is only reported.
          return runBackupThenPrune(
            ctx,
            { plan, compression: optional(p, 'compression'), kind: optional(p, 'kind'), trigger: 'cli', signal, onProgress: progress.update },
            (line) => io.err(`${line}\n`),
          );
        }),
      (line) => io.err(`${line}\n`),
    ),
  );
  progress.done();
  const b = outcome.view;
  if (io.json) printJson(io, b);
  else if (b.databases) {
    io.out(
      `Server run ${b.id} ${b.status === 'success' ? 'succeeded' : `is ${b.status.toUpperCase()}`}: plan ${b.plan}, ${b.database} in ${formatDuration(b.durationMs)}\n` +
        b.databases.map((d) => `  ${d.database.padEnd(24)} ${d.status.padEnd(8)} ${d.kind.padEnd(12)} ${formatBytes(d.sizeBytes)}  ${d.id}\n`).join('') +
        (b.message ? `  note     ${b.message}\n` : ''),
    );
  } else if (b.status === 'success' || b.status === 'partial') {
    io.out(
      `Backup ${b.id} ${b.status === 'success' ? 'succeeded' : 'is PARTIAL'}: plan ${b.plan}, ${b.kind}, ${b.compression}\n` +
        `  stored   ${formatBytes(b.sizeBytes)} (raw ${formatBytes(b.rawSizeBytes)}) in ${formatDuration(b.durationMs)}\n` +
        `  sha256   ${b.sha256}\n  artifact ${b.artifact}\n` +
        (b.recipients.length ? `  age      encrypted to ${b.recipients.join(', ')}\n` : '') +
        b.copies
          .map(
            (c) =>
              `  copy     ${c.destination} (${c.type ?? '?'}): ${c.status}${c.checksum ? ` ${c.checksum}` : ''}${c.message && c.status !== 'success' ? ` - ${c.message}` : ''}\n`,
          )
          .join('') +
        (b.message ? `  note     ${b.message}\n` : ''),
    );
  }
  if (outcome.error) {
    if (!io.json) io.err(`Backup ${b.id} ${b.status}.\n`);
    return reportError(io, outcome.error);
  }
  return 0;
}

/** `coffre restore JOURNAL_ID | --file PATH`. */
export async function restore(args: string[], io: Io): Promise<number> {
  const p = parse(
    'restore',
    args,
    {
      to: { type: 'string' },
      file: { type: 'string', multiple: true },
      replace: { type: 'boolean' },
      database: { type: 'string' },
      'allow-program': { type: 'boolean' },
      globals: { type: 'boolean' },
      ...identityFlags,
    },
    1,
  );
  const backupRef = p.positionals[0];
  // A server run's id: its databases (or, --globals, its PostgreSQL roles) into a server target.
  if (backupRef && ((p.values.file as string[] | undefined) ?? []).length === 0) {
    const { findServerRun } = await import('../../catalog/server-runs.ts');
    const isRun = await withContext(io, async (ctx) => (await findServerRun(ctx.catalog.db, backupRef)) !== undefined);
    if (isRun || p.values.globals) return restoreRun(p, backupRef, io);
  }
  const files = (p.values.file as string[] | undefined) ?? [];
  if (!backupRef && files.length === 0) throw usageError('MISSING_ARGUMENT', '`coffre restore` needs a JOURNAL_ID, or --file PATH --to TARGET.');
  if (backupRef && files.length > 0) throw usageError('BAD_ARGUMENTS', '`coffre restore` takes a JOURNAL_ID or --file PATH, not both.');
  const { runRestore } = await import('../../services/restores.ts');
  const progress = progressLine(io, 'restored');
  const outcome = await withContext(io, (ctx) =>
    withInterrupt((signal) =>
      runRestore(ctx, {
        backup: backupRef,
        files,
        stdin: files.includes('-') ? process.stdin : undefined,
        database: optional(p, 'database'),
        allowProgram: p.values['allow-program'] === true,
        to: optional(p, 'to'),
        replace: p.values.replace === true,
        identities: identitySources(p),
        trigger: 'cli',
        signal,
        onProgress: progress.update,
      }),
    ),
  );
  progress.done();
  const r: RestoreView = outcome.view;
  if (io.json) printJson(io, r);
  else if (r.status === 'success') {
    io.out(
      `Restore ${r.id} succeeded: ${r.backupId ? `backup ${r.backupId}` : r.source} -> target ${r.target} (${r.database}) in ${formatDuration(r.durationMs)}\n  ${r.message}\n`,
    );
  }
  if (outcome.error) {
    if (!io.json) io.err(`Restore ${r.id} ${r.status}.\n`);
    return reportError(io, outcome.error);
  }
  return 0;
}

/** `coffre restore RUN_ID --to SERVER_TARGET [--replace] [--globals]`. */
async function restoreRun(p: ReturnType<typeof parse>, ref: string, io: Io): Promise<number> {
  const to = optional(p, 'to');
  if (!to) throw usageError('MISSING_TARGET', '`coffre restore RUN_ID` (a server run) needs --to SERVER_TARGET.', { field: 'to' });
  const { restoreServerRun } = await import('../../services/server-restore.ts');
  const outcome = await withContext(io, (ctx) =>
    withInterrupt((signal) =>
      restoreServerRun(ctx, { run: ref, to, replace: p.values.replace === true, globals: p.values.globals === true, identities: identitySources(p), trigger: 'cli', signal }),
    ),
  );
  const v = outcome.view;
  if (io.json) printJson(io, v);
  else {
    io.out(
      `Restore of run ${v.runId} into ${v.target}: ${v.status}\n` +
        v.restores.map((r) => `  ${r.database.padEnd(24)} ${r.status.padEnd(8)} ${r.id}${r.status !== 'success' ? ` - ${r.message}` : ''}\n`).join('') +
        `  ${v.message}\n`,
    );
  }
  return outcome.error ? reportError(io, outcome.error) : 0;
}

/** `coffre journal`. */
export async function journal(args: string[], io: Io): Promise<number> {
  if (args[0] === 'adopt') return adopt(args.slice(1), io);
  const p = parse(
    'journal',
    args,
    { plan: { type: 'string' }, limit: { type: 'string' }, status: { type: 'string' }, restores: { type: 'boolean' }, drills: { type: 'boolean' } },
    0,
  );
  const limitText = optional(p, 'limit');
  const limit = limitText === undefined ? undefined : /^\d+$/.test(limitText) ? Number(limitText) : NaN;
  if (limit !== undefined && Number.isNaN(limit)) throw usageError('BAD_LIMIT', `--limit must be a whole number (got "${limitText}").`);
  if (p.values.drills) {
    if (p.values.restores) throw usageError('BAD_USAGE', '`coffre journal` takes --restores or --drills, not both.');
    return drillJournal(io, optional(p, 'plan'), optional(p, 'status'), limit);
  }
  if (p.values.restores) {
    if (optional(p, 'plan') !== undefined || optional(p, 'status') !== undefined) {
      throw usageError('BAD_USAGE', '--restores takes only --limit (and --json).');
    }
    return restoreJournal(io, limit);
  }
  const status = optional(p, 'status');
  if (status !== undefined && !(backupStatuses as readonly string[]).includes(status)) {
    throw usageError('BAD_STATUS', `--status must be one of ${backupStatuses.join(', ')} (got "${status}").`);
  }
  const { listJournal } = await import('../../services/backups.ts');
  const rows = await withContext(io, (ctx) => listJournal(ctx, { plan: optional(p, 'plan'), limit, status: status as BackupView['status'] | undefined }));
  type Row = BackupView;
  if (io.json) printJson(io, rows);
  else {
    // A server run is one line with its databases beneath, indented.
    const lines: Row[] = rows.flatMap((r) => (r.databases ? [r, ...r.databases.map((d) => ({ ...d, id: `  ${d.id}` }))] : [r]));
    printTable(
      io,
      [
        ['id', (r: Row) => r.id],
        ['database', (r: Row) => (r.databases ? `server: ${r.database}` : r.database)],
        ['started', (r: Row) => formatTime(r.startedAt)],
        ['plan', (r: Row) => r.plan],
        ['kind', (r: Row) => r.kind],
        ['status', (r: Row) => r.status],
        // Per-copy outcome: "2/3 s3-main:failed" names the copies that did not land.
        ['copies', (r: Row) => copiesCell(r)],
        ['size', (r: Row) => formatBytes(r.sizeBytes)],
        ['raw', (r: Row) => formatBytes(r.rawSizeBytes)],
        ['duration', (r: Row) => formatDuration(r.durationMs)],
        ['sha256', (r: Row) => short(r.sha256)],
        // Rows imported by reindex: "not adopted" counts for no plan (retention, parents, latest, RPO).
        ['origin', (r: Row) => (r.adoption === 'pending' ? 'imported, not adopted' : r.adoption === 'adopted' ? 'imported, adopted' : '-')],
        // The public keys each backup was encrypted to (a plan's later change does not alter them).
        ['encrypted to', (r: Row) => (r.recipients.length ? r.recipients.map((k) => `${k.slice(0, 12)}…${k.slice(-4)}`).join(' ') : '-')],
      ],
      lines,
      'The journal is empty: run `coffre backup PLAN`.',
    );
    for (const r of rows) if (r.databases && r.message && r.status !== 'success') io.out(`run ${r.id} ${r.status}: ${r.message}\n`);
  }
  return 0;
}

/** `coffre journal adopt ID [ID ...] [--plan P]`: oldest first, so a chain's parents come before their children. */
async function adopt(args: string[], io: Io): Promise<number> {
  const p = parse('journal adopt', args, { plan: { type: 'string' } }, Infinity);
  if (p.positionals.length === 0) throw usageError('MISSING_ARGUMENT', '`coffre journal adopt` needs the JOURNAL_ID of a row imported by `coffre reindex`.');
  let who = 'cli';
  try {
    who = `cli:${userInfo().username}`;
  } catch {
    // no user name (a container's unnamed uid): "cli" alone
  }
  const { adoptBackup } = await import('../../services/reindex.ts');
  const { describeBackup } = await import('../../services/backup-view.ts');
  const adopted = await withContext(io, async (ctx) => {
    const rows = await Promise.all(p.positionals.map((ref) => getBackup(ctx.catalog.db, ref)));
    rows.sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
    const out: BackupView[] = [];
    for (const r of rows) {
      const done = await adoptBackup(ctx, r.id, { plan: optional(p, 'plan'), by: who });
      out.push(describeBackup(done));
      if (!io.json) io.out(`Backup ${done.id} (${done.kind}, ${done.startedAt}) adopted into plan ${done.planName}; it restores by default into target ${done.targetName}.\n`);
    }
    return out;
  });
  if (io.json) printJson(io, adopted);
  return 0;
}

/** `coffre journal --restores`: the restore journal, newest first. */
async function restoreJournal(io: Io, limit: number | undefined): Promise<number> {
  const { listRestoreJournal } = await import('../../services/restores.ts');
  const rows = await withContext(io, (ctx) => listRestoreJournal(ctx, { limit }));
  printRows(
    io,
    rows,
    [
      ['id', (r) => r.id],
      ['started', (r) => formatTime(r.startedAt)],
      ['from', (r) => r.backupId ?? r.source],
      ['target', (r) => r.target],
      ['replace', (r) => (r.replace ? 'yes' : 'no')],
      ['status', (r) => r.status],
      ['raw', (r) => formatBytes(r.rawSizeBytes)],
      ['duration', (r) => formatDuration(r.durationMs)],
    ],
    'No restore yet: run `coffre restore JOURNAL_ID --to TARGET`.',
  );
  return 0;
}

/** `coffre journal --drills`: the drill journal, newest first. */
async function drillJournal(io: Io, plan: string | undefined, status: string | undefined, limit: number | undefined): Promise<number> {
  const { listDrillJournal } = await import('../../services/drills.ts');
  const rows = await withContext(io, (ctx) => listDrillJournal(ctx, { plan, status, limit }));
  type Row = DrillView;
  const checks = (r: Row) => r.checks.map((c) => `${c.name}:${c.status}`).join(' ') || '-';
  printRows(
    io,
    rows,
    [
      ['id', (r) => r.id],
      ['started', (r) => formatTime(r.startedAt)],
      ['plan', (r) => r.plan],
      ['backup', (r) => r.backupId],
      ['target', (r) => r.target],
      ['status', (r) => r.status],
      ['rto', (r) => (r.rtoMs === null ? null : formatDuration(r.rtoMs))],
      ['checks', checks],
      ['scratch', (r) => (!r.scratchCreated ? 'none made' : r.scratchDropped ? 'dropped' : r.status === 'running' ? r.scratch : `LEFT: ${r.scratch}`)],
    ],
    'No drill yet: run `coffre drill PLAN`.',
  );
  return 0;
}

/** `coffre verify JOURNAL_ID`. */
export async function verify(args: string[], io: Io): Promise<number> {
  const p = parse('verify', args, { ...identityFlags }, 1);
  const ref = positional(p, 0, 'a JOURNAL_ID', 'verify');
  const { verifyBackup } = await import('../../services/backups.ts');
  const outcome = await withContext(io, (ctx) => withInterrupt((signal) => verifyBackup(ctx, ref, signal, { identities: identitySources(p) })));
  const v = outcome.view;
  if (io.json) printJson(io, v);
  else if (v.status === 'success') io.out(`Backup ${v.id} verified: ${v.message}\n`);
  if (outcome.error) return reportError(io, outcome.error);
  return 0;
}
