// `coffre plan add|list|remove`: what to back up, where, and how.

import { addPlan, listPlans, removePlan } from '../../services/plans.ts';
import { usageError } from '../../core/errors.ts';
import { optional, parse, positional, required } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printTable, type Io } from '../output.ts';

export const help = `coffre plan add NAME --target T --destination D [--kind full] [--compression gzip|zstd|zip|targz|none] [--cron EXPR] [--timezone TZ]
coffre plan list                     list plans
coffre plan remove NAME              remove a plan (its journal and artifacts stay)`;

/** Runs a plan subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const p = parse(
        'plan add',
        rest,
        { target: { type: 'string' }, destination: { type: 'string' }, kind: { type: 'string' }, compression: { type: 'string' }, cron: { type: 'string' }, timezone: { type: 'string' } },
        1,
      );
      const input = {
        name: positional(p, 0, 'a NAME', 'plan add'),
        target: required(p, 'target', 'plan add', 'TARGET'),
        destination: required(p, 'destination', 'plan add', 'DESTINATION'),
        kind: optional(p, 'kind'),
        compression: optional(p, 'compression'),
        cron: optional(p, 'cron'),
        timezone: optional(p, 'timezone'),
      };
      const plan = await withContext(io, (ctx) => addPlan(ctx, input));
      if (io.json) printJson(io, plan);
      else io.out(`Plan ${plan.name} added: ${plan.target} -> ${plan.destination}, ${plan.kind}, ${plan.compression ?? 'default compression'}${plan.cron ? `, cron "${plan.cron}"` : ''}\n`);
      return 0;
    }
    case 'list': {
      parse('plan list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listPlans(ctx));
      type Row = (typeof rows)[0];
      if (io.json) printJson(io, rows);
      else
        printTable(
          io,
          [['name', (r: Row) => r.name], ['target', (r: Row) => r.target], ['destination', (r: Row) => r.destination], ['kind', (r: Row) => r.kind], ['compression', (r: Row) => r.compression ?? '(default)'], ['cron', (r: Row) => r.cron]],
          rows,
          'No plans yet: add one with `coffre plan add NAME --target T --destination D`.',
        );
      return 0;
    }
    case 'remove': {
      const p = parse('plan remove', rest, {}, 1);
      const plan = await withContext(io, (ctx) => removePlan(ctx, positional(p, 0, 'a NAME', 'plan remove')));
      if (io.json) printJson(io, plan);
      else io.out(`Plan ${plan.name} removed (its journal and artifacts stay).\n`);
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "plan ${sub ?? ''}": use plan add, list or remove.`);
  }
}
