// mysqldump and mariadb-dump name the source database in one statement even without --databases: around
// a routine or trigger created under another database collation than the current one they write
//   ALTER DATABASE `source` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;
// and back again. Restored under another name, that statement would fail (no such database) or, worse,
// alter the source database on the same server, and the routine would get the wrong collation.
// ALTER DATABASE without a name applies to the session's default database, which is the restore
// target, so this streaming rewrite drops the name from exactly those lines and passes every other
// byte through untouched, without holding more than one short line in memory.

import { Transform, type TransformCallback } from 'node:stream';

const PREFIX = Buffer.from('ALTER DATABASE `');
const NEWLINE = 0x0a;
/** Longer lines cannot be the statement (64-character name, doubled backticks, two short words). */
const MAX_LINE = 1024;
const STATEMENT = /^ALTER DATABASE `(?:[^`]|``)+` (CHARACTER SET \w+ COLLATE \w+ ;\r?)$/;

/** A transform that removes the database name from the dump's `ALTER DATABASE ... CHARACTER SET` lines. */
export function unnameAlterDatabase(): Transform {
  // 'start': at a line start, deciding; 'candidate': the line so far matches PREFIX, held in `held`;
  // 'pass': inside a line that is not the statement, passed through up to its newline.
  let state: 'start' | 'candidate' | 'pass' = 'start';
  let held: Buffer[] = [];
  let heldLength = 0;

  const flushHeld = (out: Buffer[], rewrite: boolean) => {
    const line = Buffer.concat(held, heldLength);
    held = [];
    heldLength = 0;
    if (rewrite) {
      const m = STATEMENT.exec(line.subarray(0, line.length - 1).toString('utf8'));
      if (m) {
        out.push(Buffer.from(`ALTER DATABASE ${m[1]}\n`, 'utf8'));
        return;
      }
    }
    out.push(line);
  };

  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const out: Buffer[] = [];
      let i = 0;
      while (i < chunk.length) {
        if (state === 'pass') {
          const nl = chunk.indexOf(NEWLINE, i);
          if (nl === -1) {
            out.push(chunk.subarray(i));
            i = chunk.length;
          } else {
            out.push(chunk.subarray(i, nl + 1));
            i = nl + 1;
            state = 'start';
          }
          continue;
        }
        // 'start' or 'candidate': take bytes until the line is decided.
        const nl = chunk.indexOf(NEWLINE, i);
        const end = nl === -1 ? chunk.length : nl + 1;
        const piece = chunk.subarray(i, end);
        if (heldLength === 0) {
          const compared = Math.min(piece.length, PREFIX.length);
          if (!piece.subarray(0, compared).equals(PREFIX.subarray(0, compared))) {
            out.push(piece); // the common case: decided by the first bytes, nothing held or copied
            i = end;
            state = nl === -1 ? 'pass' : 'start';
            continue;
          }
        }
        held.push(piece);
        heldLength += piece.length;
        i = end;
        const seen = Buffer.concat(held, heldLength);
        const compared = Math.min(seen.length, PREFIX.length);
        if (!seen.subarray(0, compared).equals(PREFIX.subarray(0, compared)) || heldLength > MAX_LINE) {
          flushHeld(out, false);
          state = nl === -1 ? 'pass' : 'start';
        } else if (nl !== -1) {
          flushHeld(out, true);
          state = 'start';
        } else {
          state = 'candidate';
        }
      }
      if (out.length === 0) cb();
      else cb(null, out.length === 1 ? out[0] : Buffer.concat(out));
    },
    flush(cb: TransformCallback) {
      const out: Buffer[] = [];
      if (heldLength > 0) flushHeld(out, false);
      if (out.length === 0) cb();
      else cb(null, Buffer.concat(out));
    },
  });
}
