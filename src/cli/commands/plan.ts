// `coffre plan add|edit|list|remove`: what to back up, where, and how.

import { addPlan, listPlans, removePlan, updatePlan } from '../../services/plans.ts';
import { recipientsFrom } from '../../services/keys.ts';
import { compressionNames } from '../../core/codec-names.ts';
import { usageError } from '../../core/errors.ts';
import { fromEnvOrFile, optional, parse, positional, required } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printRows, type Io } from '../output.ts';

export const help = `coffre plan add NAME --target T --destination D [--destination D2 ...] [--kind full] [--compression ${compressionNames.join('|')}] [--cron EXPR] [--timezone TZ]
      [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--max-age-days D]
      [--missed-runs run-once|skip] [--missed-grace SECONDS] [--encrypt-to age1... ...] [--encrypt-to-file RECIPIENTS_FILE ...]
      [--notify NOTIFIER ... [--notify-on failure,partial,rpo,drill,success]] [--rpo DURATION] [--ping-url URL | --ping-url-env VAR | --ping-url-file PATH]
      [--drill-cron EXPR] [--rto DURATION] [--drill-target T] [--drill-assert SQL ...] [--drill-assert-timeout DURATION]
coffre plan edit NAME [--name NEW] [--target T] [--destination D ...] [--kind K] [--compression FMT] [--cron EXPR | --no-cron] [--timezone TZ]
      [--keep-* N ... | --no-retention] [--missed-runs P] [--missed-grace S] [--enable | --disable]
      [--notify N ... [--notify-on EVENTS] | --no-notify] [--rpo 26h | --no-rpo] [--ping-url URL | --no-ping-url]
      [--encrypt-to age1... ... | --encrypt-to-file FILE ... | --no-encryption]
      [--drill-cron EXPR | --no-drill-cron] [--rto 30m | --no-rto] [--drill-target T | --no-drill-target]
      [--drill-assert "SELECT count(*) > 1000 FROM orders" ... | --no-drill-asserts] [--drill-assert-timeout 60s]
                                     restore drills (coffre drill): scheduled in coffre serve, RTO objective, the server
                                     they restore on, the checks (MongoDB: '{"collection":"orders","filter":{},"min":1000}')
                                     --encrypt-to: new backups are compressed, then age-encrypted to these public keys
                                     change a plan in place (its journal and chains stay); --keep-* replace the whole policy
coffre plan list                     list plans
coffre plan remove NAME              remove a plan (its journal and artifacts stay)`;

const retentionFlags = {
  'keep-last': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  'max-age-days': { type: 'string' },
} as const;

/** The retention policy from --keep-* and --max-age-days, or undefined when none is given. */
function retentionOf(p: ReturnType<typeof parse>): Record<string, number> | undefined {
  const names: Record<keyof typeof retentionFlags, string> = {
    'keep-last': 'keepLast',
    'keep-daily': 'daily',
    'keep-weekly': 'weekly',
    'keep-monthly': 'monthly',
    'keep-yearly': 'yearly',
    'max-age-days': 'maxAgeDays',
  };
  const out: Record<string, number> = {};
  for (const [flag, key] of Object.entries(names)) {
    const v = optional(p, flag);
    if (v === undefined) continue;
    if (!/^\d+(\.\d+)?$/.test(v)) throw usageError('BAD_RETENTION', `--${flag} must be a number (got "${v}").`, { field: flag });
    out[key] = Number(v);
  }
  return Object.keys(out).length ? out : undefined;
}

const alertingFlags = {
  notify: { type: 'string', multiple: true },
  'notify-on': { type: 'string' },
  rpo: { type: 'string' },
  'ping-url': { type: 'string' },
  'ping-url-env': { type: 'string' },
  'ping-url-file': { type: 'string' },
} as const;
const alertingOffFlags = { 'no-notify': { type: 'boolean' }, 'no-rpo': { type: 'boolean' }, 'no-ping-url': { type: 'boolean' } } as const;

/** The notification rules, RPO and ping URL flags (issue 12); the ping URL's token may come from --ping-url-env/-file. */
function alertingOf(p: ReturnType<typeof parse>, io: Io): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const pair = (on: string, off: string) => {
    if (p.values[on] !== undefined && p.values[off] !== undefined) throw usageError('BAD_ARGUMENTS', `\`coffre plan\` takes --${on} or --${off}, not both.`);
  };
  pair('notify', 'no-notify');
  pair('rpo', 'no-rpo');
  pair('ping-url', 'no-ping-url');
  if (p.values.notify !== undefined) out.notify = p.values.notify;
  if (p.values['no-notify']) out.notify = [];
  if (p.values['notify-on'] !== undefined) out.notifyOn = p.values['notify-on'];
  if (p.values.rpo !== undefined) out.rpo = p.values.rpo;
  if (p.values['no-rpo']) out.rpo = null;
  const given = ['ping-url', 'ping-url-env', 'ping-url-file'].filter((f) => p.values[f] !== undefined);
  if (given.length > 1) throw usageError('BAD_ARGUMENTS', '`coffre plan` takes one of --ping-url, --ping-url-env and --ping-url-file.');
  if (p.values['ping-url'] !== undefined) {
    io.err('warning: --ping-url on the command line is visible to other users (ps) and kept in shell history; prefer --ping-url-env VAR or --ping-url-file PATH.\n');
    out.pingUrl = p.values['ping-url'];
  }
  if (p.values['ping-url-env'] !== undefined) out.pingUrl = fromEnvOrFile('--ping-url-env', 'env', String(p.values['ping-url-env']));
  if (p.values['ping-url-file'] !== undefined) out.pingUrl = fromEnvOrFile('--ping-url-file', 'file', String(p.values['ping-url-file']));
  if (p.values['no-ping-url']) out.pingUrl = null;
  return Object.keys(out).length ? out : undefined;
}

const drillFlags = {
  'drill-cron': { type: 'string' },
  'no-drill-cron': { type: 'boolean' },
  rto: { type: 'string' },
  'no-rto': { type: 'boolean' },
  'drill-target': { type: 'string' },
  'no-drill-target': { type: 'boolean' },
  'drill-assert': { type: 'string', multiple: true },
  'no-drill-asserts': { type: 'boolean' },
  'drill-assert-timeout': { type: 'string' },
} as const;

/** The restore drill flags (issue 13), or undefined when none is given. */
function drillOf(p: ReturnType<typeof parse>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [on, off] of [
    ['drill-cron', 'no-drill-cron'],
    ['rto', 'no-rto'],
    ['drill-target', 'no-drill-target'],
    ['drill-assert', 'no-drill-asserts'],
  ]) {
    if (p.values[on] !== undefined && p.values[off] !== undefined) throw usageError('BAD_ARGUMENTS', `\`coffre plan\` takes --${on} or --${off}, not both.`);
  }
  if (p.values['drill-cron'] !== undefined) out.cron = p.values['drill-cron'];
  if (p.values['no-drill-cron']) out.cron = null;
  if (p.values.rto !== undefined) out.rto = p.values.rto;
  if (p.values['no-rto']) out.rto = null;
  if (p.values['drill-target'] !== undefined) out.target = p.values['drill-target'];
  if (p.values['no-drill-target']) out.target = null;
  if (p.values['drill-assert'] !== undefined) out.assertions = p.values['drill-assert'];
  if (p.values['no-drill-asserts']) out.assertions = [];
  if (p.values['drill-assert-timeout'] !== undefined) out.assertTimeout = p.values['drill-assert-timeout'];
  return Object.keys(out).length ? out : undefined;
}

const encryptionFlags = {
  'encrypt-to': { type: 'string', multiple: true },
  'encrypt-to-file': { type: 'string', multiple: true },
  'no-encryption': { type: 'boolean' },
} as const;

/** The recipients from --encrypt-to/--encrypt-to-file, null for --no-encryption, undefined when none is given. */
async function encryptionOf(p: ReturnType<typeof parse>): Promise<string[] | null | undefined> {
  const list = (name: string) => {
    const v = p.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  };
  const values = list('encrypt-to');
  const files = list('encrypt-to-file');
  if (p.values['no-encryption']) {
    if (values.length || files.length) throw usageError('BAD_ARGUMENTS', 'Give --encrypt-to/--encrypt-to-file or --no-encryption, not both.');
    return null;
  }
  if (values.length === 0 && files.length === 0) return undefined;
  return recipientsFrom(values, files);
}

/** " , encrypted to age1… (+1)" for the confirmation line. */
function encryptionNote(encryptTo: string[]): string {
  return encryptTo.length ? `, encrypted to ${encryptTo[0]}${encryptTo.length > 1 ? ` (+${encryptTo.length - 1})` : ''}` : '';
}

/** Every --destination given (repeatable: the plan uploads to each), or a usage error when none. */
function destinationsOf(p: ReturnType<typeof parse>): string[] {
  const v = p.values.destination;
  const list = (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []).filter((d) => d !== '');
  if (list.length === 0) throw usageError('MISSING_OPTION', '`coffre plan add` needs --destination DESTINATION (repeat it to upload to several).', { field: 'destination' });
  return list;
}

/** Runs a plan subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const p = parse(
        'plan add',
        rest,
        {
          target: { type: 'string' },
          destination: { type: 'string', multiple: true },
          kind: { type: 'string' },
          compression: { type: 'string' },
          cron: { type: 'string' },
          timezone: { type: 'string' },
          ...retentionFlags,
          'missed-runs': { type: 'string' },
          'missed-grace': { type: 'string' },
          ...alertingFlags,
          ...encryptionFlags,
          ...drillFlags,
        },
        1,
      );
      const input = {
        name: positional(p, 0, 'a NAME', 'plan add'),
        target: required(p, 'target', 'plan add', 'TARGET'),
        destination: destinationsOf(p),
        kind: optional(p, 'kind'),
        compression: optional(p, 'compression'),
        cron: optional(p, 'cron'),
        timezone: optional(p, 'timezone'),
        retention: retentionOf(p),
        missedRuns: optional(p, 'missed-runs'),
        missedGraceSeconds: optional(p, 'missed-grace'),
        alerting: alertingOf(p, io),
        encryptTo: await encryptionOf(p),
        drill: drillOf(p),
      };
      const plan = await withContext(io, (ctx) => addPlan(ctx, input));
      if (io.json) printJson(io, plan);
      else
        io.out(
          `Plan ${plan.name} added: ${plan.target} -> ${plan.destinations.join(' + ')}, ${plan.kind}, ${plan.compression ?? 'default compression'}${plan.cron ? `, cron "${plan.cron}"` : ''}${encryptionNote(plan.encryptTo)}\n`,
        );
      return 0;
    }
    case 'edit': {
      const p = parse(
        'plan edit',
        rest,
        {
          name: { type: 'string' },
          target: { type: 'string' },
          destination: { type: 'string', multiple: true },
          kind: { type: 'string' },
          compression: { type: 'string' },
          cron: { type: 'string' },
          'no-cron': { type: 'boolean' },
          timezone: { type: 'string' },
          ...retentionFlags,
          'no-retention': { type: 'boolean' },
          'missed-runs': { type: 'string' },
          'missed-grace': { type: 'string' },
          enable: { type: 'boolean' },
          disable: { type: 'boolean' },
          ...alertingFlags,
          ...alertingOffFlags,
          ...encryptionFlags,
          ...drillFlags,
        },
        1,
      );
      const ref = positional(p, 0, 'a NAME', 'plan edit');
      const both = (a: string, b: string) => {
        if (p.values[a] !== undefined && p.values[b] !== undefined) throw usageError('BAD_ARGUMENTS', `\`coffre plan edit\` takes --${a} or --${b}, not both.`);
      };
      both('cron', 'no-cron');
      both('enable', 'disable');
      const retention = retentionOf(p);
      if (retention && p.values['no-retention']) throw usageError('BAD_ARGUMENTS', '`coffre plan edit` takes --keep-*/--max-age-days or --no-retention, not both.');
      const input: Parameters<typeof updatePlan>[2] = {
        name: optional(p, 'name'),
        target: optional(p, 'target'),
        destination: p.values.destination === undefined ? undefined : destinationsOf(p),
        kind: optional(p, 'kind'),
        compression: optional(p, 'compression'),
        cron: p.values['no-cron'] ? null : optional(p, 'cron'),
        timezone: optional(p, 'timezone'),
        retention: p.values['no-retention'] ? null : retention,
        missedRuns: optional(p, 'missed-runs'),
        missedGraceSeconds: optional(p, 'missed-grace'),
        enabled: p.values.enable ? true : p.values.disable ? false : undefined,
        alerting: alertingOf(p, io),
        encryptTo: await encryptionOf(p),
        drill: drillOf(p),
      };
      for (const k of Object.keys(input) as Array<keyof typeof input>) if (input[k] === undefined) delete input[k];
      if (Object.keys(input).length === 0) throw usageError('MISSING_OPTION', '`coffre plan edit` needs at least one change (see `coffre plan --help`).');
      const plan = await withContext(io, (ctx) => updatePlan(ctx, ref, input));
      if (io.json) printJson(io, plan);
      else
        io.out(
          `Plan ${plan.name} updated: ${plan.target} -> ${plan.destinations.join(' + ')}, ${plan.kind}, ${plan.compression ?? 'default compression'}${plan.cron ? `, cron "${plan.cron}"` : ', no schedule'}${plan.enabled ? '' : ', DISABLED'}${encryptionNote(plan.encryptTo)}\n`,
        );
      return 0;
    }
    case 'list': {
      parse('plan list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listPlans(ctx));
      printRows(
        io,
        rows,
        [
          ['name', (r) => r.name],
          ['target', (r) => r.target],
          ['destinations', (r) => r.destinations.join(',')],
          ['kind', (r) => r.kind],
          ['compression', (r) => r.compression ?? '(default)'],
          ['encrypted', (r) => (r.encryptTo.length ? `age:${r.encryptTo.length}` : 'no')],
          ['cron', (r) => (r.cron ? `${r.cron}${r.timezone ? ` (${r.timezone})` : ''}` : null)],
          ['next run', (r) => r.nextRuns[0]],
        ],
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
      throw usageError('UNKNOWN_COMMAND', `Unknown command "plan ${sub ?? ''}": use plan add, edit, list or remove.`);
  }
}
