// The naming rule for targets, destinations and plans: safe in a storage key, a URL path and a shell.

import { usageError } from '../core/errors.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Throws a usage error unless `name` is 1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw usageError('BAD_NAME', `Invalid ${what} name ${JSON.stringify(name ?? '')}: use 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit.`, {
      field: 'name',
    });
  }
  return name;
}
