// `coffre reindex DESTINATION`: rebuild the journal from the manifests found in a destination (the day the
// catalog is lost): re-add the destination, reindex it, then restore by journal id as usual.

import { reindexDestination } from '../../services/reindex.ts';
import { parse, positional } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printTable, type Io } from '../output.ts';

export const help = `coffre reindex DESTINATION                             journal the backups whose manifests are in DESTINATION
                                                       (after a lost catalog); orphans are listed, never imported`;

/** Runs `coffre reindex`. */
export async function run(args: string[], io: Io): Promise<number> {
  const p = parse('reindex', args, {}, 1);
  const ref = positional(p, 0, 'a DESTINATION', 'reindex');
  const report = await withContext(io, (ctx) => reindexDestination(ctx, ref));
  if (io.json) {
    printJson(io, report);
    return 0;
  }
  io.out(
    `Destination ${report.destination}: ${report.scanned} objects; ${report.imported.length} backup(s) imported, ${report.linked.length} known backup(s) linked to their copy here, ${report.skipped.length} already known, ${report.orphans.length} orphan(s), ${report.invalid.length} invalid manifest(s).\n`,
  );
  const rows = [...report.imported.map((r) => ({ ...r, what: 'imported' })), ...report.linked.map((r) => ({ ...r, what: 'linked' }))];
  if (rows.length) {
    type Row = (typeof rows)[0];
    printTable(
      io,
      [
        ['id', (r: Row) => r.id],
        ['what', (r: Row) => r.what],
        ['plan', (r: Row) => r.plan],
        ['kind', (r: Row) => r.kind],
        ['started', (r: Row) => r.startedAt],
        ['artifact', (r: Row) => r.artifact],
      ],
      rows,
    );
  }
  if (report.imported.length) {
    io.out(
      `The ${report.imported.length} imported backup(s) are not adopted: they count for no plan (retention, delta parents, latest backup, RPO) and a restore of one needs --to TARGET, until \`coffre journal adopt ID [--plan PLAN]\`.\n`,
    );
  }
  for (const o of report.orphans) io.out(`orphan (no manifest, not imported): ${o.key} (${o.sizeBytes} bytes)\n`);
  for (const i of report.invalid) io.out(`invalid: ${i.key}: ${i.reason}\n`);
  return 0;
}
