// `coffre status [--json]`: one line per plan (health, age of the last success against the RPO, last failure,
// next run). Exit 0 when every plan is `ok`, 1 otherwise, so that it can be a cron or monitoring check by itself.

import { planStatuses } from '../../services/status.ts';
import { parse } from '../args.ts';
import { withContext } from '../context.ts';
import { formatTime, printJson, printTable, type Io } from '../output.ts';

export const help = `coffre status                        every plan's health: ok, failing, stale (past its RPO) or never, and its last drill;
                                     exit 0 only when all are ok and no latest drill failed`;

function age(seconds: number | null): string | null {
  if (seconds === null) return null;
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

/** `coffre status`. */
export async function run(args: string[], io: Io): Promise<number> {
  parse('status', args, {}, 0);
  const report = await withContext(io, (ctx) => planStatuses(ctx));
  if (io.json) printJson(io, report);
  else {
    type R = (typeof report.plans)[0];
    printTable(
      io,
      [
        ['plan', (r: R) => r.plan],
        ['health', (r: R) => r.health],
        ['last success', (r: R) => (r.lastSuccessAgeSeconds === null ? 'never' : `${age(r.lastSuccessAgeSeconds)} ago`)],
        ['rpo', (r: R) => (r.rpoSeconds === null ? null : age(r.rpoSeconds))],
        ['last failure', (r: R) => (r.lastFailureAt ? `${formatTime(r.lastFailureAt)} ${r.lastFailureId?.slice(0, 8)}: ${(r.lastFailureMessage ?? '').slice(0, 80)}` : null)],
        ['next run', (r: R) => (r.nextRun ? formatTime(r.nextRun) : null)],
        [
          'last drill',
          (r: R) =>
            r.lastDrillStatus ? `${r.lastDrillStatus} ${formatTime(r.lastDrillAt!)}${r.lastDrillRtoMs !== null ? ` rto ${(r.lastDrillRtoMs / 1000).toFixed(1)}s` : ''}` : null,
        ],
      ],
      report.plans,
      'No plans yet: add one with `coffre plan add NAME --target T --destination D`.',
    );
  }
  return report.ok ? 0 : 1;
}
