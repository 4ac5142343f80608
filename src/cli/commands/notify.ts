// `coffre notify add|edit|list|remove|test`: where alerts go. Options after NAME other than --type, --default
// and --on are the channel's settings, kebab-case turned camelCase (--url, --secret, --token, --host, --port,
// --security, --username, --password, --from, --to, --ca-file …), so a new channel needs no change here. As for
// destinations, any setting X may come from --X-env VAR or --X-file PATH instead of the command line, which
// `ps` and shell history show (`--ca-file` reads the CA certificate's PEM); secrets given directly get a warning.

import { addNotifier, listNotifiers, notificationJournal, removeNotifier, testNotifier, updateNotifier, type NotifierInput } from '../../services/notifiers.ts';
import { usageError } from '../../core/errors.ts';
import { parse, positional, settingsFromFlags } from '../args.ts';
import { withContext } from '../context.ts';
import { formatTime, printJson, printTable, type Io } from '../output.ts';

export const help = `coffre notify add NAME --type webhook --url-env VAR [--secret-env VAR]     JSON POST, signed with X-Coffre-Signature when a secret is set
coffre notify add NAME --type slack|discord|teams --url-env VAR                their incoming-webhook URL
coffre notify add NAME --type ntfy --url-env VAR [--token-env VAR] [--priority 1-5]   a topic URL (https://ntfy.sh/TOPIC)
coffre notify add NAME --type email --host H [--port P] [--security starttls|tls|none] [--username U --password-env VAR]
      --from ADDR --to ADDR[,ADDR] [--ca-file PEM]
      [--default [--on failure,partial,rpo,drill,success]]   in the default set: plans without --notify rules use it
      any setting X may come from --X-env VAR or --X-file PATH instead of the command line (URLs with tokens and passwords should)
coffre notify edit NAME [--name NEW] [--default | --no-default] [--on EVENTS] [SETTING ...]   change it (the type stays)
coffre notify list [--limit N]       notifiers, then the notification journal (channel, event, status, attempts, last error)
coffre notify remove NAME            remove a notifier (plans' rules naming it go too)
coffre notify test NAME              send a real test message and print the far side's answer`;

const switches = new Set(['default', 'noDefault']);
const secretSettings = new Set(['url', 'secret', 'token', 'password']);
/** `--ca-file PEM` is the CA certificate itself (the `ca` setting) read from a file. */
const fileSettings: Record<string, string> = { caFile: 'ca' };

function settingsOf(args: string[], warn: (line: string) => void): { name?: string; settings: Record<string, unknown> } {
  return settingsFromFlags(args, { command: 'notify', switches, secrets: secretSettings, fileSettings }, warn);
}

/** --default/--no-default/--on as the service's fields; the rest stays the channel's settings. */
function inputOf(settings: Record<string, unknown>): NotifierInput {
  const { default: on, noDefault: off, on: events, ...rest } = settings;
  if (on && off) throw usageError('BAD_ARGUMENTS', '`coffre notify` takes --default or --no-default, not both.');
  return { ...rest, ...(on ? { default: true } : off ? { default: false } : {}), ...(events !== undefined ? { events } : {}) };
}

/** Runs a notify subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const warn = (line: string) => io.err(`${line}\n`);
  switch (sub) {
    case 'add': {
      const { name, settings } = settingsOf(rest, warn);
      if (!name) throw usageError('MISSING_ARGUMENT', '`coffre notify add` needs a NAME.');
      if (settings.type === undefined) throw usageError('MISSING_OPTION', '`coffre notify add` needs --type (webhook, slack, discord, teams, ntfy or email).', { field: 'type' });
      const n = await withContext(io, (ctx) => addNotifier(ctx, { ...inputOf(settings), name }));
      if (io.json) printJson(io, n);
      else io.out(`Notifier ${n.name} added: ${n.type} ${n.target}${n.default ? ` (default set: ${n.defaultEvents.join(',')})` : ''}\n`);
      return 0;
    }
    case 'edit': {
      const { name, settings } = settingsOf(rest, warn);
      if (!name) throw usageError('MISSING_ARGUMENT', '`coffre notify edit` needs a NAME.');
      if (Object.keys(settings).length === 0) throw usageError('MISSING_OPTION', '`coffre notify edit` needs at least one change (see `coffre notify --help`).');
      const n = await withContext(io, (ctx) => updateNotifier(ctx, name, inputOf(settings)));
      if (io.json) printJson(io, n);
      else io.out(`Notifier ${n.name} updated: ${n.type} ${n.target}${n.default ? ` (default set: ${n.defaultEvents.join(',')})` : ''}\n`);
      return 0;
    }
    case 'list': {
      const p = parse('notify list', rest, { limit: { type: 'string' } }, 0);
      const limitText = p.values.limit as string | undefined;
      if (limitText !== undefined && !/^\d+$/.test(limitText)) throw usageError('BAD_LIMIT', `--limit must be a whole number (got "${limitText}").`, { field: 'limit' });
      const { notifiers, journal } = await withContext(io, async (ctx) => ({
        notifiers: await listNotifiers(ctx),
        journal: await notificationJournal(ctx, { limit: limitText ? Number(limitText) : 20 }),
      }));
      if (io.json) {
        printJson(io, { notifiers, journal });
        return 0;
      }
      type N = (typeof notifiers)[0];
      printTable(
        io,
        [
          ['name', (r: N) => r.name],
          ['type', (r: N) => r.type],
          ['target', (r: N) => r.target],
          ['default', (r: N) => (r.default ? r.defaultEvents.join(',') : 'no')],
          ['plans', (r: N) => r.plans.join(',')],
          ['last', (r: N) => (r.lastDelivery ? `${r.lastDelivery.status} (${r.lastDelivery.event})` : null)],
        ],
        notifiers,
        'No notifiers yet: add one with `coffre notify add NAME --type webhook --url-env VAR`.',
      );
      if (journal.length) {
        io.out('\nNotification journal (newest first):\n');
        type J = (typeof journal)[0];
        printTable(
          io,
          [
            ['time', (r: J) => formatTime(r.createdAt)],
            ['notifier', (r: J) => r.notifier],
            ['channel', (r: J) => r.channel],
            ['event', (r: J) => r.event],
            ['plan', (r: J) => r.plan],
            ['journal id', (r: J) => r.journalId],
            ['status', (r: J) => r.status],
            ['attempts', (r: J) => r.attempts],
            ['last error', (r: J) => r.lastError],
          ],
          journal,
        );
      }
      return 0;
    }
    case 'remove': {
      const p = parse('notify remove', rest, {}, 1);
      const n = await withContext(io, (ctx) => removeNotifier(ctx, positional(p, 0, 'a NAME', 'notify remove')));
      if (io.json) printJson(io, n);
      else io.out(`Notifier ${n.name} removed${n.plans.length ? ` (and its rules in plan(s) ${n.plans.join(', ')})` : ''}.\n`);
      return 0;
    }
    case 'test': {
      const p = parse('notify test', rest, {}, 1);
      const r = await withContext(io, (ctx) => testNotifier(ctx, positional(p, 0, 'a NAME', 'notify test')));
      if (io.json) printJson(io, r);
      else if (r.status === 'sent') io.out(`Test message sent through ${r.notifier} (${r.type}) after ${r.attempts} attempt(s): ${r.answer}\n`);
      else io.err(`error: the test message through ${r.notifier} (${r.type}) failed after ${r.attempts} attempt(s): ${r.answer}\n`);
      return r.status === 'sent' ? 0 : 1;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "notify ${sub ?? ''}": use notify add, edit, list, remove or test.`);
  }
}
