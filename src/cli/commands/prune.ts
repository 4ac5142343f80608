// `coffre prune PLAN [--dry-run]`: applies the plan's retention policy now. The dry run lists what would go
// and why without touching anything; a real run prints what went, and exits 1 if a removal failed.

import { prunePlan, type PruneReport } from '../../services/retention.ts';
import { parse, positional } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printTable, type Io } from '../output.ts';

export const help = `coffre prune PLAN [--dry-run]          apply the plan's retention policy (--dry-run: list what would go and why)`;

/** `coffre prune`. */
export async function run(args: string[], io: Io): Promise<number> {
  const p = parse('prune', args, { 'dry-run': { type: 'boolean' } }, 1);
  const plan = positional(p, 0, 'a PLAN', 'prune');
  const report: PruneReport = await withContext(io, (ctx) => prunePlan(ctx, plan, { dryRun: p.values['dry-run'] === true }));
  if (io.json) printJson(io, report);
  else {
    const verb = report.dryRun ? 'would remove' : 'removed';
    io.out(
      `Plan ${report.plan}, retention: ${report.rules}. ${report.kept.length} kept, ${report.removed.length - report.failed} ${verb}${report.failed ? `, ${report.failed} failed` : ''}.\n`,
    );
    type Row = { action: string; id: string; startedAt: string; kind: string; why: string };
    const rows: Row[] = [
      ...report.removed.map((d) => ({
        action: d.error ? 'FAILED' : report.dryRun ? 'would remove' : 'removed',
        id: d.id,
        startedAt: d.startedAt,
        kind: d.kind,
        why: d.error ? d.error.message : d.reasons.join('; '),
      })),
      ...report.kept.map((d) => ({ action: 'keep', id: d.id, startedAt: d.startedAt, kind: d.kind, why: d.reasons.join('; ') })),
      ...report.held.map((d) => ({ action: 'held (not adopted)', id: d.id, startedAt: d.startedAt, kind: d.kind, why: d.reasons.join('; ') })),
    ];
    printTable(
      io,
      [
        ['action', (r: Row) => r.action],
        ['id', (r: Row) => r.id],
        ['started', (r: Row) => r.startedAt],
        ['kind', (r: Row) => r.kind],
        ['why', (r: Row) => r.why],
      ],
      rows,
      'No successful backups for this plan yet.',
    );
  }
  return report.failed ? 1 : 0;
}
