// How users name catalog rows: by name, by full id, or by any unique id prefix of at least 6 characters.
// One rule for every table, so the CLI and the API accept the same references.

import { usageError } from '../core/errors.ts';

/** Minimum length of an id prefix a user may type. */
export const MIN_PREFIX = 6;

/** Whether `ref` may be used as an id prefix in a LIKE pattern (hex and dashes only: nothing to escape). */
export function isIdPrefix(ref: string): boolean {
  return ref.length >= MIN_PREFIX && /^[0-9a-f-]+$/i.test(ref);
}

/**
 * Picks the row `ref` designates among candidates fetched by name or id prefix: an exact name wins,
 * then an exact id, then a single prefix match; several prefix matches are an ambiguity error.
 */
export function pickByRef<T extends { id: string; name?: string }>(rows: readonly T[], ref: string, what: string): T | undefined {
  const byName = rows.find((r) => r.name === ref);
  if (byName) return byName;
  const byId = rows.find((r) => r.id === ref);
  if (byId) return byId;
  const prefixed = isIdPrefix(ref) ? rows.filter((r) => r.id.startsWith(ref.toLowerCase())) : [];
  if (prefixed.length > 1) throw usageError('AMBIGUOUS_ID', `The id prefix "${ref}" matches several ${what}s: type more characters.`);
  return prefixed[0];
}
