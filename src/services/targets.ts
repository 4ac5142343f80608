// Targets: the databases coffre backs up. The URL (with its password) is sealed in the catalog; callers
// only ever get the masked display URL back. connectionOf() is the one place a stored URL is opened.

import { newId, isoNow } from '../core/ids.ts';
import { parseConnectionUrl, type Connection } from '../core/connection.ts';
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
}

function view(r: TargetRecord): TargetView {
  return { id: r.id, name: r.name, engine: r.engine as EngineName, url: r.urlDisplay, createdAt: r.createdAt, updatedAt: r.updatedAt };
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
export async function addTarget(ctx: ServiceContext, input: { name: unknown; url: unknown }, reach: Reach = apiReach): Promise<TargetView> {
  const name = checkName('target', input.name);
  if (typeof input.url !== 'string' || !input.url.trim()) throw usageError('MISSING_URL', 'A target needs a connection URL (--url), e.g. postgres://user:pass@host:5432/db.', { field: 'url' });
  const conn = parseConnectionUrl(input.url);
  if (await repo.findTarget(ctx.catalog.db, name)) throw conflict('TARGET_EXISTS', `A target named "${name}" already exists: choose another name or remove it first.`);
  checkTargetReach(ctx, conn, reach);
  const now = isoNow();
  const rec: TargetRecord = { id: newId(), name, engine: conn.engine, urlDisplay: conn.displayUrl, urlEnc: encryptSecret(ctx.catalog.key, conn.url), createdAt: now, updatedAt: now };
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
  if (!rec) throw notFound('TARGET_NOT_FOUND', `No target named "${ref}": see \`coffre target list\`.`);
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
  const conn = parseConnectionUrl(decryptSecret(ctx.catalog.key, rec.urlEnc, `target "${rec.name}"`));
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
export async function testTarget(ctx: ServiceContext, ref: string, signal?: AbortSignal): Promise<TargetView & ToolInfo> {
  const rec = await findTargetRecord(ctx, ref);
  const info = await engines.get(rec.engine).probe(connectionOf(ctx, rec), signal);
  return { ...view(rec), tool: info.tool, clientVersion: info.clientVersion, serverVersion: info.serverVersion };
}

/** Renames a target and/or changes its URL (the API's PATCH). A new engine is refused while plans use it. */
export async function updateTarget(ctx: ServiceContext, ref: string, input: { name?: unknown; url?: unknown }, reach: Reach = apiReach): Promise<TargetView> {
  const rec = await findTargetRecord(ctx, ref);
  const next: TargetRecord = { ...rec, updatedAt: isoNow() };
  if (input.name !== undefined) {
    next.name = checkName('target', input.name);
    const other = await repo.findTarget(ctx.catalog.db, next.name);
    if (other && other.id !== rec.id && other.name === next.name) throw conflict('TARGET_EXISTS', `A target named "${next.name}" already exists: choose another name.`);
  }
  if (input.url !== undefined) {
    if (typeof input.url !== 'string' || !input.url.trim()) throw usageError('MISSING_URL', 'A target needs a connection URL, e.g. postgres://user:pass@host:5432/db.', { field: 'url' });
    const conn = parseConnectionUrl(input.url);
    checkTargetReach(ctx, conn, reach);
    if (conn.engine !== rec.engine) {
      const users = await plansUsing(ctx.catalog.db, { targetId: rec.id });
      if (users.length) throw conflict('TARGET_IN_USE', `Target "${rec.name}" is a ${rec.engine} database used by plan(s) ${users.join(', ')}: it cannot become ${conn.engine}.`, { plans: users });
    }
    Object.assign(next, { engine: conn.engine, urlDisplay: conn.displayUrl, urlEnc: encryptSecret(ctx.catalog.key, conn.url) });
  }
  await repo.updateTarget(ctx.catalog.db, rec.id, next);
  return view(next);
}
