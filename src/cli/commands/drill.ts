// `coffre drill PLAN`: restore a plan's backup into a scratch database, check it, drop it (services/drills.ts).
// Exit codes: 0 the drill passed, 1 it failed or was interrupted (a failed check, a failed restore), 2 bad usage.

import { runDrill, type DrillCheck, type DrillView } from '../../services/drills.ts';
import { withNotifications } from '../../services/notifications.ts';
import { optional, parse, positional } from '../args.ts';
import { withContext, withInterrupt } from '../context.ts';
import { formatDuration, printJson, reportError, type Io } from '../output.ts';

export const help = `coffre drill PLAN [--backup ID] [--drill-target TARGET] [--identity KEY_FILE ...] [--identity-env VAR ...]
                                     restore drill: the plan's latest backup (or --backup ID, chains too) into a scratch
                                     database coffre_drill_<plan>_<run> (SQLite: a temporary file), then its checks
                                     (restore, row counts, --drill-assert queries, --rto), then dropped; exit 0 passed, 1 failed`;

function checkLine(c: DrillCheck): string {
  const mark = c.status === 'passed' ? 'ok  ' : c.status === 'failed' ? 'FAIL' : 'skip';
  return `  ${mark} ${c.name}${c.assertion ? ` ${JSON.stringify(c.assertion.length > 70 ? `${c.assertion.slice(0, 70)}…` : c.assertion)}` : ''}: ${c.message}\n`;
}

/** `coffre drill PLAN`. */
export async function run(args: string[], io: Io): Promise<number> {
  const p = parse(
    'drill',
    args,
    { backup: { type: 'string' }, 'drill-target': { type: 'string' }, identity: { type: 'string', multiple: true }, 'identity-env': { type: 'string', multiple: true } },
    1,
  );
  const plan = positional(p, 0, 'a PLAN', 'drill');
  const list = (name: string) => {
    const v = p.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  };
  const outcome = await withContext(io, (ctx) =>
    withNotifications(
      ctx,
      () =>
        withInterrupt((signal) =>
          runDrill(ctx, {
            plan,
            backup: optional(p, 'backup'),
            drillTarget: optional(p, 'drill-target'),
            identities: { files: list('identity'), env: list('identity-env') },
            trigger: 'cli',
            signal,
            onStarted: (d) => {
              if (!io.json) io.err(`Drill ${d.id}: backup ${d.backupId} of plan ${d.plan} into ${d.scratch} on ${d.target}\n`);
            },
            onCheck: (c) => {
              if (!io.json) io.err(checkLine(c));
            },
          }),
        ),
      (line) => io.err(`${line}\n`),
    ),
  );
  const d: DrillView = outcome.view;
  if (io.json) printJson(io, d);
  else
    io.out(
      `Drill ${d.id} ${d.status === 'success' ? 'passed' : d.status.toUpperCase()}: plan ${d.plan}, backup ${d.backupId}, RTO ${d.rtoMs === null ? '-' : formatDuration(d.rtoMs)}${d.rtoObjectiveSeconds ? ` (objective ${d.rtoObjectiveSeconds} s)` : ''}, scratch ${!d.scratchCreated ? 'none made' : d.scratchDropped ? 'dropped' : `NOT dropped: ${d.scratch}`}\n`,
    );
  if (outcome.error) return reportError(io, outcome.error);
  return 0;
}
