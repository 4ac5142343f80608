// Restoring a PostgreSQL server's globals (`pg_dumpall --globals-only`, stored by each server run) into a
// server: roles the target lacks are created with their attributes, passwords (as pg_dumpall wrote them),
// settings, comments and memberships; roles the target already has are skipped and named, never altered (a
// restore must not change a live role's password or rights); tablespaces are named, not created (their
// LOCATION is a folder on the dumped server's host). Everything runs in one transaction: a failure leaves
// the server as it was. The SQL reaching here has passed the restore filter (src/sql/filter.ts).

import type { Readable } from 'node:stream';
import type { Connection } from '../core/connection.ts';
import { failure } from '../core/errors.ts';
import { sqlStatements } from '../sql/split.ts';
import { withSession } from './postgres-client.ts';

const ident = `("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name.toLowerCase();
}

/** What a globals restore did, for the journal. */
export interface GlobalsOutcome {
  created: string[];
  skipped: string[];
  tablespaces: string[];
  ignored: number;
}

/** Drops leading comments and blank lines from a statement. */
function bare(statement: string): string {
  return statement.replace(/^(\s*--[^\n]*\n|\s+)*/, '');
}

/** Restores the globals script `input` into conn's server (through its maintenance database). */
export async function restoreGlobals(conn: Connection, input: Readable, signal?: AbortSignal): Promise<GlobalsOutcome> {
  const statements: string[] = [];
  for await (const s of sqlStatements(input, 'postgres')) statements.push(s);
  return withSession(
    conn,
    conn.database || 'postgres',
    async (client) => {
      const existing = new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname));
      const out: GlobalsOutcome = { created: [], skipped: [], tablespaces: [], ignored: 0 };
      const created = new Set<string>();
      const run: string[] = [];
      const first = (re: RegExp, s: string) => {
        const m = re.exec(s);
        return m ? unquote(m[1]) : undefined;
      };
      for (const raw of statements) {
        const s = bare(raw);
        if (!s.trim()) continue;
        let name: string | undefined;
        if ((name = first(new RegExp(`^CREATE\\s+ROLE\\s+${ident}`, 'i'), s)) !== undefined) {
          if (existing.has(name)) out.skipped.push(name);
          else {
            created.add(name);
            out.created.push(name);
            run.push(s);
          }
        } else if ((name = first(new RegExp(`^(?:ALTER\\s+ROLE|COMMENT\\s+ON\\s+ROLE|SECURITY\\s+LABEL(?:\\s+FOR\\s+\\S+)?\\s+ON\\s+ROLE)\\s+${ident}`, 'i'), s)) !== undefined) {
          if (created.has(name)) run.push(s);
        } else if (/^GRANT\s/i.test(s) && !/\sON\s/i.test(s)) {
          // A membership: GRANT role TO member [WITH ...] [GRANTED BY ...]; only for a member this restore made.
          const member = first(new RegExp(`\\sTO\\s+${ident}`, 'i'), s);
          const granted = first(new RegExp(`^GRANT\\s+${ident}`, 'i'), s);
          if (member !== undefined && created.has(member) && granted !== undefined && (existing.has(granted) || created.has(granted)))
            run.push(s.replace(/\s+GRANTED\s+BY\s+("(?:[^"]|"")*"|\S+?)(?=\s*;|\s*$)/i, ''));
        } else if ((name = first(new RegExp(`^CREATE\\s+TABLESPACE\\s+${ident}`, 'i'), s)) !== undefined) {
          out.tablespaces.push(name);
        } else if (/^(SET|SELECT\s+pg_catalog\.set_config)\s/i.test(s)) {
          run.push(s);
        } else out.ignored++;
      }
      await client.query('BEGIN');
      try {
        for (const s of run) await client.query(s);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw failure('GLOBALS_RESTORE_FAILED', `The globals could not be restored, nothing was changed: ${(err as Error).message}`, { cause: err });
      }
      return out;
    },
    signal,
  );
}

/** The journal's words for a globals restore. */
export function describeGlobals(o: GlobalsOutcome): string {
  return [
    `created ${o.created.length} role(s)${o.created.length ? `: ${o.created.join(', ')}` : ''}`,
    `skipped ${o.skipped.length} existing role(s) (not altered)${o.skipped.length ? `: ${o.skipped.join(', ')}` : ''}`,
    ...(o.tablespaces.length ? [`tablespaces not created (their folders are on the dumped server's host; create them first): ${o.tablespaces.join(', ')}`] : []),
  ].join('; ');
}
