// Which databases a server target covers: every database the engine lists, minus the server's own (system)
// databases, kept by --include globs (none: all) and dropped by --exclude globs. A system database comes
// back only when an --include glob names it (`--include mysql`); --exclude wins over --include.

import { usageError } from '../core/errors.ts';
import type { Connection } from '../core/connection.ts';
import { engines } from '../engines/index.ts';

/** A glob (`*` any run of characters, `?` one, `[abc]` a class) as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) throw usageError('BAD_GLOB', `The pattern "${glob}" has an unclosed "[".`, { field: 'include' });
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** Checks a list of globs given by a user (CLI flags, API field); returns them. */
export function checkGlobs(field: 'include' | 'exclude', value: unknown): string[] {
  const list = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  for (const g of list) {
    if (typeof g !== 'string' || !g.trim() || g.length > 200 || /[\0\r\n]/.test(g))
      throw usageError('BAD_GLOB', `Each --${field} pattern must be a non-empty line of at most 200 characters.`, { field });
    globToRegExp(g);
  }
  return list as string[];
}

/** The names among `all` a server target with these filters covers, sorted. */
export function filterDatabases(systemDatabases: readonly string[], all: readonly string[], include: readonly string[], exclude: readonly string[]): string[] {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  const system = new Set(systemDatabases);
  return [...new Set(all)]
    .filter((name) => {
      if (exc.some((r) => r.test(name))) return false;
      if (inc.length === 0) return !system.has(name);
      // A system database needs a glob that names it: `*` alone does not bring back template1.
      return inc.some((r, i) => r.test(name) && (!system.has(name) || !/[*?[]/.test(include[i])));
    })
    .sort();
}

/** Lists the server's databases and applies the filters. */
export async function serverDatabases(conn: Connection, filters: { include: readonly string[]; exclude: readonly string[] }, signal?: AbortSignal): Promise<string[]> {
  const engine = engines.get(conn.engine);
  if (!engine.listDatabases) throw usageError('NOT_A_SERVER', `A ${conn.engine} target cannot be a server target.`);
  return filterDatabases(engine.systemDatabases ?? [], await engine.listDatabases(conn, signal), filters.include, filters.exclude);
}
