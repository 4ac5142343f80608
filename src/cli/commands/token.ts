// `coffre token create|list|revoke`: the Bearer tokens of `coffre serve`. A token is printed once, at
// creation; the catalog keeps only its hash.

import { createToken, listTokens, revokeToken } from '../../services/tokens.ts';
import { usageError } from '../../core/errors.ts';
import { optional, parse, positional } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printRows, type Io } from '../output.ts';

export const help = `coffre token create NAME [--role R]    make an API token (shown once); R: admin (default), operator, viewer
coffre token list                      list tokens (never their secret)
coffre token revoke NAME|ID            revoke a token`;

/** Runs a token subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const p = parse('token create', rest, { role: { type: 'string' } }, 1);
      const t = await withContext(io, (ctx) => createToken(ctx, positional(p, 0, 'a NAME', 'token create'), optional(p, 'role')));
      if (io.json) printJson(io, t);
      else io.out(`Token ${t.name} (${t.role}) created (id ${t.id}):\n\n  ${t.token}\n\nKeep it now: it is not shown again. Use it as "Authorization: Bearer <token>".\n`);
      return 0;
    }
    case 'list': {
      parse('token list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listTokens(ctx));
      printRows(
        io,
        rows,
        [
          ['name', (r) => r.name],
          ['role', (r) => r.role],
          ['id', (r) => r.id],
          ['hint', (r) => r.hint],
          ['created', (r) => r.createdAt],
          ['last used', (r) => r.lastUsedAt],
          ['revoked', (r) => r.revokedAt],
        ],
        'No tokens yet: make one with `coffre token create NAME`.',
      );
      return 0;
    }
    case 'revoke': {
      const p = parse('token revoke', rest, {}, 1);
      const revoked = await withContext(io, (ctx) => revokeToken(ctx, positional(p, 0, 'a NAME or ID', 'token revoke')));
      if (io.json) printJson(io, revoked);
      else for (const t of revoked) io.out(`Token ${t.name} (${t.id}) revoked.\n`);
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "token ${sub ?? ''}": use token create, list or revoke.`);
  }
}
