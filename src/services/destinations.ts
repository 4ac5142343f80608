// Destinations: where artifacts are stored. Each storage backend validates its own settings and splits out
// secrets, which are sealed in the catalog; storageOf() is the one place a destination is opened.

import { newId, isoNow } from '../core/ids.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { sealSecrets, openSecrets } from '../core/secrets.ts';
import type { Storage } from '../core/types.ts';
import { configureStorage, loadBackend, openStorage, storageTypes } from '../storage/index.ts';
import * as repo from '../catalog/destinations.ts';
import { plansUsing } from '../catalog/plans.ts';
import type { DestinationRecord } from '../catalog/destinations.ts';
import type { ServiceContext } from './service-context.ts';
import { checkName } from './names.ts';
import { apiReach, checkNotOwn, checkReach, type Reach } from './reach.ts';

/** The folder of a local destination's settings (BACKUP_ROOT when none is given). */
function localFolder(ctx: ServiceContext, config: Record<string, unknown>): string {
  return typeof config.path === 'string' ? config.path : ctx.config.backupRoot;
}

/** A destination as shown to users: settings without secrets. */
export interface DestinationView {
  id: string;
  name: string;
  type: string;
  config: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

function view(r: DestinationRecord): DestinationView {
  return { id: r.id, name: r.name, type: r.type, config: r.config, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

/**
 * Validates (through the backend) and stores a new destination. Other input fields are the backend's
 * settings. A local destination's folder must be within `reach` (services/reach.ts; the API's by default).
 */
export async function addDestination(ctx: ServiceContext, input: { name: unknown; type: unknown } & Record<string, unknown>, reach: Reach = apiReach): Promise<DestinationView> {
  const name = checkName('destination', input.name);
  if (typeof input.type !== 'string' || !input.type) {
    throw usageError('MISSING_TYPE', `A destination needs a type ({hint}): one of ${storageTypes().join(', ')}.`, { field: 'type' }, { option: 'type' });
  }
  const backend = await loadBackend(input.type);
  const { name: _n, type: _t, ...settings } = input;
  const configured = await backend.configure(settings);
  if (backend.type === 'local') checkReach(ctx.config, localFolder(ctx, configured.config), 'local-destination', reach);
  if (await repo.findDestination(ctx.catalog.db, name))
    throw conflict('DESTINATION_EXISTS', `A destination named "${name}" already exists: choose another name or remove it first.`);
  const now = isoNow();
  const rec: DestinationRecord = {
    id: newId(),
    name,
    type: backend.type,
    config: configured.config,
    secretsEnc: sealSecrets(ctx.catalog.key, configured.secrets),
    createdAt: now,
    updatedAt: now,
  };
  await repo.insertDestination(ctx.catalog.db, rec);
  return view(rec);
}

/** Every destination. */
export async function listDestinations(ctx: ServiceContext): Promise<DestinationView[]> {
  return (await repo.listDestinations(ctx.catalog.db)).map(view);
}

/** The stored record of a destination by name, id or id prefix; not_found otherwise. */
export async function findDestinationRecord(ctx: ServiceContext, ref: string): Promise<DestinationRecord> {
  const rec = await repo.findDestination(ctx.catalog.db, ref);
  if (!rec) throw notFound('DESTINATION_NOT_FOUND', `No destination named "${ref}": see {hint}.`, { see: 'destinations' });
  return rec;
}

/** A destination by name, id or id prefix. */
export async function getDestination(ctx: ServiceContext, ref: string): Promise<DestinationView> {
  return view(await findDestinationRecord(ctx, ref));
}

/**
 * Opens a destination's storage (secrets unsealed here), wrapped in the retry policy. A local destination
 * on coffre's own files (saved before paths were checked) is refused here, whoever asks.
 */
export async function storageOf(ctx: ServiceContext, rec: DestinationRecord): Promise<Storage> {
  if (rec.type === 'local') checkNotOwn(ctx.config, localFolder(ctx, rec.config), 'local-destination');
  const secrets = openSecrets(ctx.catalog.key, rec.secretsEnc, `destination "${rec.name}"`);
  return openStorage(rec.type, { config: rec.config, secrets });
}

/** Removes a destination no plan uses. Artifacts already stored there stay where they are. */
export async function removeDestination(ctx: ServiceContext, ref: string): Promise<DestinationView> {
  const rec = await findDestinationRecord(ctx, ref);
  const users = await plansUsing(ctx.catalog.db, { destinationId: rec.id });
  if (users.length) throw conflict('DESTINATION_IN_USE', `Destination "${rec.name}" is used by plan(s) ${users.join(', ')}: remove those plans first.`, { plans: users });
  await repo.deleteDestination(ctx.catalog.db, rec.id);
  return view(rec);
}

/** Checks that a destination is reachable and writable. */
export async function testDestination(ctx: ServiceContext, ref: string): Promise<DestinationView> {
  const rec = await findDestinationRecord(ctx, ref);
  await (await storageOf(ctx, rec)).check();
  return view(rec);
}

/**
 * Renames a destination and/or changes its settings (the API's PATCH). Settings given are merged over the
 * stored ones (secrets included) and checked again by the backend; the type cannot change.
 */
export async function updateDestination(
  ctx: ServiceContext,
  ref: string,
  input: { name?: unknown; type?: unknown } & Record<string, unknown>,
  reach: Reach = apiReach,
): Promise<DestinationView> {
  const rec = await findDestinationRecord(ctx, ref);
  const next: DestinationRecord = { ...rec, updatedAt: isoNow() };
  const { name, type, ...settings } = input;
  if (type !== undefined && type !== rec.type)
    throw usageError('TYPE_CHANGE', `Destination "${rec.name}" is of type ${rec.type}: its type cannot change; add a new destination instead.`, { field: 'type' });
  if (name !== undefined) {
    next.name = checkName('destination', name);
    const other = await repo.findDestination(ctx.catalog.db, next.name);
    if (other && other.id !== rec.id && other.name === next.name) throw conflict('DESTINATION_EXISTS', `A destination named "${next.name}" already exists: choose another name.`);
  }
  if (Object.keys(settings).length) {
    const secrets = openSecrets(ctx.catalog.key, rec.secretsEnc, `destination "${rec.name}"`);
    const configured = await configureStorage(rec.type, { ...rec.config, ...secrets, ...settings });
    next.config = configured.config;
    if (rec.type === 'local') checkReach(ctx.config, localFolder(ctx, configured.config), 'local-destination', reach);
    next.secretsEnc = sealSecrets(ctx.catalog.key, configured.secrets);
  }
  await repo.updateDestination(ctx.catalog.db, rec.id, next);
  return view(next);
}
