// Argument parsing for every command, on node:util parseArgs: unknown options and missing values are
// usage errors (exit 2) that name the option, never a crash.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from '../core/errors.ts';
import { namedVariable } from '../config.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses a command's arguments; `--json` and `--help` are always accepted. */
export function parse(command: string, args: string[], options: Options, maxPositionals: number): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw usageError('BAD_ARGUMENTS', `${msg} (see \`coffre ${command} --help\`).`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw usageError('BAD_ARGUMENTS', `Unexpected argument "${parsed.positionals[maxPositionals]}" for \`coffre ${command}\` (see \`coffre ${command} --help\`).`);
  }
  return parsed as Parsed;
}

/** A required option's string value, or a usage error naming the flag. */
export function required(p: Parsed, name: string, command: string, hint = ''): string {
  const v = p.values[name];
  if (typeof v !== 'string' || v === '') throw usageError('MISSING_OPTION', `\`coffre ${command}\` needs --${name}${hint ? ` ${hint}` : ''}.`, { field: name });
  return v;
}

/** A required positional, or a usage error naming it. */
export function positional(p: Parsed, index: number, what: string, command: string): string {
  const v = p.positionals[index];
  if (!v) throw usageError('MISSING_ARGUMENT', `\`coffre ${command}\` needs ${what}.`);
  return v;
}

/** An optional string option. */
export function optional(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** The value of `flag` given as --X-env VAR (that variable, which must be set) or --X-file PATH (its content, trimmed). */
export function fromEnvOrFile(flag: string, how: 'env' | 'file', ref: string): string {
  if (how === 'env') {
    const v = namedVariable(ref);
    if (v === undefined || v === '') throw usageError('BAD_ARGUMENTS', `${flag} names the environment variable ${ref}, which is not set.`);
    return v;
  }
  try {
    return readFileSync(ref, 'utf8').trim();
  } catch (err) {
    throw usageError('BAD_ARGUMENTS', `${flag} names ${ref}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

/** How a command's `--setting value` flags become a backend's or a channel's settings (settingsFromFlags). */
export interface SettingFlags {
  /** The command, for messages ("destination", "notify"). */
  command: string;
  /** Settings that are switches: `--allow-http` alone means true. */
  switches: ReadonlySet<string>;
  /** Settings that are secrets: warned about when given on the command line. */
  secrets: ReadonlySet<string>;
  /** Shorter or provider-worded flags for settings. */
  aliases?: Readonly<Record<string, string>>;
  /** Flags that read a whole setting from a file (`--ca-file PEM` is the `ca` setting). */
  fileSettings?: Readonly<Record<string, string>>;
}

/**
 * --key value / --key=value pairs into camelCase settings, any of them also as --key-env VAR or --key-file
 * PATH; the one bare argument is the name; --json is the output switch. A secret given directly gets a warning.
 */
export function settingsFromFlags(args: string[], spec: SettingFlags, warn: (line: string) => void): { name?: string; settings: Record<string, unknown>; json: boolean } {
  const settings: Record<string, unknown> = {};
  let name: string | undefined;
  let json = false;
  const camelOf = (f: string) => f.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') {
      json = true;
      continue;
    }
    if (!a.startsWith('--')) {
      if (name !== undefined) throw usageError('BAD_ARGUMENTS', `Unexpected argument "${a}" for \`coffre ${spec.command}\`.`);
      name = a;
      continue;
    }
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    let via = /-(env|file)$/.exec(flag)?.[1] as 'env' | 'file' | undefined;
    const camel = camelOf(via ? flag.slice(2, -via.length - 1) : flag.slice(2));
    let key = spec.aliases?.[camel] ?? camel;
    const whole = spec.fileSettings?.[camelOf(flag.slice(2))];
    if (whole) {
      key = whole;
      via = 'file';
    }
    if (!key) throw usageError('BAD_ARGUMENTS', `Bad option "${a}".`);
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : args[i + 1];
    if (eq < 0) {
      if (value === undefined || value.startsWith('--')) {
        if (!via && spec.switches.has(key)) {
          settings[key] = true;
          continue;
        }
        throw usageError('BAD_ARGUMENTS', `Option ${a} needs a value (see \`coffre ${spec.command} --help\`).`);
      }
      i++;
    }
    if (via) value = fromEnvOrFile(flag, via, value);
    else if (spec.secrets.has(key))
      warn(`warning: ${flag} on the command line is visible to other users (ps) and kept in shell history; prefer ${flag}-env VAR or ${flag}-file PATH.`);
    settings[key] = value;
  }
  return { name, settings, json };
}
