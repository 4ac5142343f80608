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
