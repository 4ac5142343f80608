// Environment variables, parsed and validated once. Everything else reads `loadConfig()`'s result, never
// process.env directly, so that a bad value fails at start with a message naming the variable.

import path from 'node:path';
import { z } from 'zod';
import { compressionNames, type CompressionName } from './core/types.ts';
import { usageError } from './core/errors.ts';

const schema = z.object({
  DATA_DIR: z.string().min(1).default('./.data'),
  BACKUP_ROOT: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:)/, 'must be a postgres:// URL (or sqlite:/path for an explicit SQLite file)')
    .optional(),
  ENCRYPTION_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  DEFAULT_COMPRESSION: z.enum(compressionNames as [CompressionName, ...CompressionName[]]).default('gzip'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface Config {
  dataDir: string;
  backupRoot: string;
  /** Catalog location: a postgres:// URL, or the embedded SQLite file. */
  catalog: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  encryptionSecret?: string;
  defaultCompression: CompressionName;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')); // an empty variable means unset
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    throw usageError('BAD_CONFIG', `Environment variable ${name} ${issue.message.replace(/^Invalid (input|option): /, 'is invalid: ')}.`, { variable: name });
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const catalog: Config['catalog'] = e.DATABASE_URL?.startsWith('postgres')
    ? { kind: 'postgres', url: e.DATABASE_URL }
    : { kind: 'sqlite', path: e.DATABASE_URL ? path.resolve(e.DATABASE_URL.replace(/^sqlite:(\/\/)?/, '')) : path.join(dataDir, 'coffre.db') };
  return {
    dataDir,
    backupRoot: path.resolve(e.BACKUP_ROOT ?? path.join(dataDir, 'backups')),
    catalog,
    encryptionSecret: e.ENCRYPTION_SECRET,
    defaultCompression: e.DEFAULT_COMPRESSION,
    logLevel: e.LOG_LEVEL,
  };
}
