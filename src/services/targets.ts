// Targets: the databases coffre backs up. The URL (with its password) is sealed in the catalog; callers
// only ever get the masked display URL back. connectionOf() is the one place a stored URL is opened.

import { newId, isoNow } from '../core/ids.ts';
import { parseConnectionUrl, withDatabase, type Connection } from '../core/connection.ts';
import { checkGlobs, serverDatabases } from './server-databases.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { decryptSecret, encryptSecret } from '../core/secrets.ts';
import type { EngineName, ToolInfo } from '../core/types.ts';
import { engines } from '../engines/index.ts';
import * as repo from '../catalog/targets.ts';
import { plansUsing } from '../catalog/plans.ts';
import type { TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import { checkName } from './names.ts';
import { apiReach, checkNotOwn, checkReach, type Reach } from './reach.ts';
import { checkMongoUrlOptions } from '../engines/mongo-url-options.ts';

/** A target as shown to users: never the password. */
export interface TargetView {
  id: string;
  name: string;
  engine: EngineName;
  url: string;
  createdAt: string;
  updatedAt: string;
  /** A server target: every database of the server that passes include/exclude (system ones left out). */
  server: boolean;
  include: string[];
  exclude: string[];
  /** Databases a server run dumps at once. */
  parallel: number;
}

function view(r: TargetRecord): TargetView {
  return {
    id: r.id,
    name: r.name,
    engine: r.engine as EngineName,
    url: r.urlDisplay,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    server: r.server === true,
    include: r.includeGlobs ?? [],
    exclude: r.excludeGlobs ?? [],
    parallel: r.parallel ?? 1,
  };
}

/** What makes a target a server target, as users give it (CLI flags, API fields). */
export interface ServerInput {
  allDatabases?: unknown;
  include?: unknown;
  exclude?: unknown;
  parallel?: unknown;
}

function checkParallel(value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 32) throw usageError('BAD_PARALLEL', 'parallel must be a whole number from 1 to 32.', { field: 'parallel' });
  return n;
}

/**
 * The server fields of a target being saved: a URL without a database, or allDatabases, makes a server
 * target; include/exclude/parallel only mean something there (refused on a single-database target).
 */
function serverFields(conn: Connection, input: ServerInput, before?: TargetRecord): Pick<TargetRecord, 'server' | 'includeGlobs' | 'excludeGlobs' | 'parallel'> {
  const server = conn.database === '' || input.allDatabases === true || (input.allDatabases === undefined && before?.server === true && conn.database === '');
  const includeGlobs = input.include !== undefined ? checkGlobs('include', input.include) : (before?.includeGlobs ?? []);
  const excludeGlobs = input.exclude !== undefined ? checkGlobs('exclude', input.exclude) : (before?.excludeGlobs ?? []);
  const parallel = input.parallel !== undefined && input.parallel !== null ? checkParallel(input.parallel) : (before?.parallel ?? null);
  if (server && !engines.get(conn.engine).listDatabases) throw usageError('NOT_A_SERVER', `A ${conn.engine} target cannot be a server target.`, { field: 'allDatabases' });
  if (!server && (includeGlobs.length || excludeGlobs.length || (input.parallel !== undefined && input.parallel !== null))) {
    throw usageError('NOT_A_SERVER', 'include, exclude and parallel are for server targets: give a URL without a database (postgres://user@host:5432/) or allDatabases.', {
      field: 'include',
    });
  }
  return { server, includeGlobs, excludeGlobs, parallel };
}

/**
 * What a target's URL may reach, checked when it is saved: a SQLite file under ALLOWED_PATHS and never
 * coffre's own (services/reach.ts), MongoDB options from the safe set (engines/mongo-url-options.ts). The
 * API is refused beyond that; the CLI is warned about paths and may give any MongoDB option.
 */
function checkTargetReach(ctx: ServiceContext, conn: Connection, reach: Reach): void {
  if (conn.engine === 'sqlite' && conn.path) checkReach(ctx.config, conn.path, 'sqlite-target', reach);
  if (conn.engine === 'mongodb' && reach.via === 'api') checkMongoUrlOptions(conn.params);
}

/** Validates and stores a new target (bounded by what `reach` may name; the API's reach by default). */
export async function addTarget(ctx: ServiceContext, input: { name: unknown; url: unknown } & ServerInput, reach: Reach = apiReach): Promise<TargetView> {
  const name = checkName('target', input.name);
  if (typeof input.url !== 'string' || !input.url.trim())
    throw usageError('MISSING_URL', 'A target needs a connection URL ({hint}), e.g. postgres://user:pass@host:5432/db.', { field: 'url' }, { option: 'url' });
  const conn = parseConnectionUrl(input.url, { allowNoDatabase: true });
  if (conn.database === '' && conn.engine !== 'sqlite' && !engines.get(conn.engine).listDatabases) parseConnectionUrl(input.url);
  const server = serverFields(conn, input);
  if (await repo.findTarget(ctx.catalog.db, name)) throw conflict('TARGET_EXISTS', `A target named "${name}" already exists: choose another name or remove it first.`);
  checkTargetReach(ctx, conn, reach);
  const now = isoNow();
  const rec: TargetRecord = {
    id: newId(),
    name,
    engine: conn.engine,
    urlDisplay: conn.displayUrl,
    urlEnc: encryptSecret(ctx.catalog.key, conn.url),
    createdAt: now,
    updatedAt: now,
    ...server,
  };
  await repo.insertTarget(ctx.catalog.db, rec);
  return view(rec);
}

/** Every target. */
export async function listTargets(ctx: ServiceContext): Promise<TargetView[]> {
  return (await repo.listTargets(ctx.catalog.db)).map(view);
}

/** The stored record of a target by name, id or id prefix; not_found otherwise. */
export async function findTargetRecord(ctx: ServiceContext, ref: string): Promise<TargetRecord> {
  const rec = await repo.findTarget(ctx.catalog.db, ref);
  if (!rec) throw notFound('TARGET_NOT_FOUND', `No target named "${ref}": see {hint}.`, { see: 'targets' });
  return rec;
}

/** A target by name, id or id prefix. */
export async function getTarget(ctx: ServiceContext, ref: string): Promise<TargetView> {
  return view(await findTargetRecord(ctx, ref));
}

/**
 * Opens a target's sealed URL into a Connection (its password is registered for redaction). A SQLite target
 * on coffre's own files (saved before paths were checked) is refused here, whoever asks.
 */
export function connectionOf(ctx: ServiceContext, rec: TargetRecord): Connection {
  const conn = parseConnectionUrl(decryptSecret(ctx.catalog.key, rec.urlEnc, `target "${rec.name}"`), { allowNoDatabase: rec.server === true });
  if (conn.engine === 'sqlite' && conn.path) checkNotOwn(ctx.config, conn.path, 'sqlite-target');
  return conn;
}

/** Refuses, for the API, a restore into a SQLite target outside ALLOWED_PATHS (one the CLI made there). */
export function checkTargetWritable(ctx: ServiceContext, rec: TargetRecord, reach: Reach = apiReach): void {
  const conn = connectionOf(ctx, rec);
  if (conn.engine === 'sqlite' && conn.path) checkReach(ctx.config, conn.path, 'sqlite-target', reach);
}

/** Removes a target no plan uses. */
export async function removeTarget(ctx: ServiceContext, ref: string): Promise<TargetView> {
  const rec = await findTargetRecord(ctx, ref);
  const users = await plansUsing(ctx.catalog.db, { targetId: rec.id });
  if (users.length) throw conflict('TARGET_IN_USE', `Target "${rec.name}" is used by plan(s) ${users.join(', ')}: remove those plans first.`, { plans: users });
  await repo.deleteTarget(ctx.catalog.db, rec.id);
  return view(rec);
}

/** Connects to a target and reports the server version and the client tool that fits it. */
export async function testTarget(ctx: ServiceContext, ref: string, signal?: AbortSignal): Promise<TargetView & ToolInfo & { databases?: string[] }> {
  const rec = await findTargetRecord(ctx, ref);
  const conn = connectionOf(ctx, rec);
  if (rec.server) {
    // A server target: the databases its next run would back up.
    const databases = await serverDatabases(conn, { include: rec.includeGlobs ?? [], exclude: rec.excludeGlobs ?? [] }, signal);
    const probeOn = conn.database || (rec.engine === 'postgres' ? 'postgres' : databases[0]);
    const info = await engines.get(rec.engine).probe(probeOn ? withDatabase(conn, probeOn) : conn, signal);
    return { ...view(rec), tool: info.tool, clientVersion: info.clientVersion, serverVersion: info.serverVersion, databases };
  }
  const info = await engines.get(rec.engine).probe(conn, signal);
  return { ...view(rec), tool: info.tool, clientVersion: info.clientVersion, serverVersion: info.serverVersion };
}

/** Renames a target and/or changes its URL (the API's PATCH). A new engine is refused while plans use it. */
export async function updateTarget(ctx: ServiceContext, ref: string, input: { name?: unknown; url?: unknown } & ServerInput, reach: Reach = apiReach): Promise<TargetView> {
  const rec = await findTargetRecord(ctx, ref);
  const next: TargetRecord = { ...rec, updatedAt: isoNow() };
  if (input.name !== undefined) {
    next.name = checkName('target', input.name);
    const other = await repo.findTarget(ctx.catalog.db, next.name);
    if (other && other.id !== rec.id && other.name === next.name) throw conflict('TARGET_EXISTS', `A target named "${next.name}" already exists: choose another name.`);
  }
  if (input.url !== undefined) {
    if (typeof input.url !== 'string' || !input.url.trim())
      throw usageError('MISSING_URL', 'A target needs a connection URL, e.g. postgres://user:pass@host:5432/db.', { field: 'url' });
    const conn = parseConnectionUrl(input.url, { allowNoDatabase: true });
    checkTargetReach(ctx, conn, reach);
    if (conn.engine !== rec.engine) {
      const users = await plansUsing(ctx.catalog.db, { targetId: rec.id });
      if (users.length)
        throw conflict('TARGET_IN_USE', `Target "${rec.name}" is a ${rec.engine} database used by plan(s) ${users.join(', ')}: it cannot become ${conn.engine}.`, { plans: users });
    }
    Object.assign(next, { engine: conn.engine, urlDisplay: conn.displayUrl, urlEnc: encryptSecret(ctx.catalog.key, conn.url) });
  }
  // The server fields: a new URL decides again; otherwise the target keeps being what it was.
  const conn = connectionOf(ctx, next.urlEnc === rec.urlEnc ? rec : { ...next, server: true });
  if (conn.database === '' && !engines.get(conn.engine).listDatabases) parseConnectionUrl(conn.url);
  const allDatabases = input.allDatabases ?? (input.url === undefined ? rec.server : undefined);
  Object.assign(next, serverFields(conn, { ...input, allDatabases }, rec));
  if (next.server !== rec.server) {
    const users = await plansUsing(ctx.catalog.db, { targetId: rec.id });
    if (users.length)
      throw conflict(
        'TARGET_IN_USE',
        `Target "${rec.name}" is used by plan(s) ${users.join(', ')}: it cannot turn ${next.server ? 'into a server target' : 'into a single-database target'} under them.`,
        { plans: users },
      );
  }
  await repo.updateTarget(ctx.catalog.db, rec.id, next);
  return view(next);
}
