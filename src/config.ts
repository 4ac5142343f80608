// Environment variables, parsed and validated once. Everything else reads `loadConfig()`'s result, never
// process.env directly, so that a bad value fails at start with a message naming the variable.

import path from 'node:path';
import { z } from 'zod';
import { canonicalCompression, compressionNames, type CompressionName } from './core/types.ts';
import { usageError } from './core/errors.ts';

const schema = z.object({
  DATA_DIR: z.string().min(1).default('./.data'),
  BACKUP_ROOT: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:)/, 'must be a postgres:// URL (or sqlite:/path for an explicit SQLite file)')
    .optional(),
  ENCRYPTION_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  DEFAULT_COMPRESSION: z.preprocess(canonicalCompression, z.enum(compressionNames)).default('gzip'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  // The REST API server (`coffre serve`).
  PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  HOST: z.string().min(1).default('127.0.0.1'),
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CORS_ORIGINS: z.string().optional(),
  MAX_CONCURRENT_JOBS: z.coerce.number().int().min(1).max(64).default(2),
  LOGIN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(1).max(10000).default(10),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(86400).default(30),
  ALLOWED_PATHS: z.string().optional(),
  // Deprecated alias of ALLOWED_PATHS (it bounded only restore paths), read when ALLOWED_PATHS is unset.
  RESTORE_ALLOWED_PATHS: z.string().optional(),
  // The scheduler and cluster mode (issue 4).
  SCHEDULER_ENABLED: z.enum(['true', 'false', '1', '0']).default('true'),
  SCHEDULER_TIMEZONE: z
    .string()
    .refine((tz) => validTimeZone(tz), 'is not an IANA time zone name such as Europe/Paris or UTC')
    .default('UTC'),
  SCHEDULER_RELOAD_SECONDS: z.coerce.number().min(0.2).max(3600).default(5),
  CLUSTER_LEASE_SECONDS: z.coerce.number().int().min(10).max(86400).default(30),
  MAX_CONCURRENT_PER_TARGET: z.coerce.number().int().min(1).max(64).default(1),
  // Local cache of raw dumps used as delta parents (differential and incremental backups).
  DELTA_CACHE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(2 * 1024 ** 3),
  // Notifications, RPO checks and metrics (issue 12).
  NOTIFY_REMIND_HOURS: z.coerce
    .number()
    .min(0.0001)
    .max(24 * 365)
    .default(24),
  NOTIFY_CHECK_SECONDS: z.coerce.number().min(0.2).max(86400).default(60),
  NOTIFY_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(300).default(10),
  CONNECT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(10),
  NOTIFY_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  NOTIFY_RETRY_BASE_MS: z.coerce.number().int().min(0).max(600000).default(2000),
  NOTIFY_FLUSH_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PUBLIC_URL: z.string().url('must be a URL such as https://coffre.example.com').optional(),
});

/** Whether `tz` is a time zone this Node knows (IANA name, or UTC). */
function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export interface Config {
  dataDir: string;
  backupRoot: string;
  /** Catalog location: a postgres:// URL, or the embedded SQLite file. */
  catalog: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  encryptionSecret?: string;
  defaultCompression: CompressionName;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The REST API server's settings. */
  api: ApiConfig;
  /** The scheduler's and cluster mode's settings. */
  scheduler: SchedulerConfig;
  /**
   * Folders every path the API names must resolve under (ALLOWED_PATHS, or the deprecated
   * RESTORE_ALLOWED_PATHS; BACKUP_ROOT always first). See services/reach.ts.
   */
  allowedPaths: string[];
  /** Notices about the settings (a deprecated variable), for the commands to print once. */
  warnings: string[];
  /** Largest total size of the raw-dump cache under $DATA_DIR/cache (DELTA_CACHE_MAX_BYTES; 0 disables it). */
  deltaCacheMaxBytes?: number;
  /** Notifications, RPO checks and metrics (issue 12). */
  notify: NotifyConfig;
}

export interface NotifyConfig {
  /** NOTIFY_REMIND_HOURS: a plan still failing or stale is announced again at most this often, in ms. */
  remindMs: number;
  /** NOTIFY_CHECK_SECONDS: how often `coffre serve` checks RPOs and takes up pending deliveries, in ms. */
  checkMs: number;
  /** NOTIFY_TIMEOUT_SECONDS: one delivery attempt's limit, in ms. */
  timeoutMs: number;
  /** NOTIFY_ATTEMPTS: attempts per delivery (retries on network errors, timeouts and 5xx only). */
  attempts: number;
  /** NOTIFY_RETRY_BASE_MS: the first backoff, doubled at each retry. */
  retryBaseMs: number;
  /** NOTIFY_FLUSH_SECONDS: how long a CLI command waits for its deliveries before it exits, in ms. */
  flushMs: number;
  /** METRICS_TOKEN: a bearer token that opens /metrics only (besides the API's tokens). */
  metricsToken?: string;
  /** PUBLIC_URL: where users reach this server, for links in messages. */
  publicUrl?: string;
}

export interface SchedulerConfig {
  /** SCHEDULER_ENABLED: false turns cron runs off (the API and manual runs still work). */
  enabled: boolean;
  /** SCHEDULER_TIMEZONE: the time zone of plans that name none (default UTC). */
  timezone: string;
  /** SCHEDULER_RELOAD_SECONDS: how often plans are re-read, so changes made elsewhere apply without a restart. */
  reloadSeconds: number;
  /** CLUSTER_LEASE_SECONDS: how long a cluster worker may go silent before its run is given to another. */
  leaseSeconds: number;
  /** MAX_CONCURRENT_PER_TARGET: scheduled runs on one target at once, across the cluster. */
  maxConcurrentPerTarget: number;
}

export interface ApiConfig {
  port: number;
  host: string;
  /** A static Bearer token (API_TOKEN); tokens made with `coffre token create` live in the catalog. */
  token?: string;
  /** Origins allowed by CORS (CORS_ORIGINS, comma-separated; "*" for any). */
  corsOrigins: string[];
  maxConcurrentJobs: number;
  /** LOGIN_ATTEMPTS_PER_MINUTE: logins (POST /api/session) one client address may try per minute, right or wrong (default 10). */
  loginAttemptsPerMinute: number;
  shutdownGraceSeconds: number;
  /** The same list as Config.allowedPaths (kept for callers of the older name). */
  restoreAllowedPaths: string[];
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
  const backupRoot = path.resolve(e.BACKUP_ROOT ?? path.join(dataDir, 'backups'));
  const list = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const warnings: string[] = [];
  if (e.RESTORE_ALLOWED_PATHS !== undefined) {
    warnings.push(
      e.ALLOWED_PATHS !== undefined
        ? 'RESTORE_ALLOWED_PATHS is ignored: ALLOWED_PATHS is set, and bounds every path the API names.'
        : 'RESTORE_ALLOWED_PATHS is deprecated: rename it ALLOWED_PATHS, which now bounds every path the API names (SQLite targets, local destinations, restore files).',
    );
  }
  const allowedPaths = [...new Set([backupRoot, ...list(e.ALLOWED_PATHS ?? e.RESTORE_ALLOWED_PATHS).map((p) => path.resolve(p))])];
  return {
    dataDir,
    backupRoot,
    catalog,
    encryptionSecret: e.ENCRYPTION_SECRET,
    defaultCompression: e.DEFAULT_COMPRESSION,
    logLevel: e.LOG_LEVEL,
    api: {
      port: e.PORT,
      host: e.HOST,
      token: e.API_TOKEN,
      corsOrigins: list(e.CORS_ORIGINS),
      maxConcurrentJobs: e.MAX_CONCURRENT_JOBS,
      loginAttemptsPerMinute: e.LOGIN_ATTEMPTS_PER_MINUTE,
      shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
      restoreAllowedPaths: allowedPaths,
    },
    scheduler: {
      enabled: e.SCHEDULER_ENABLED === 'true' || e.SCHEDULER_ENABLED === '1',
      timezone: e.SCHEDULER_TIMEZONE,
      reloadSeconds: e.SCHEDULER_RELOAD_SECONDS,
      leaseSeconds: e.CLUSTER_LEASE_SECONDS,
      maxConcurrentPerTarget: e.MAX_CONCURRENT_PER_TARGET,
    },
    deltaCacheMaxBytes: e.DELTA_CACHE_MAX_BYTES,
    notify: {
      remindMs: e.NOTIFY_REMIND_HOURS * 3600 * 1000,
      checkMs: e.NOTIFY_CHECK_SECONDS * 1000,
      timeoutMs: e.NOTIFY_TIMEOUT_SECONDS * 1000,
      attempts: e.NOTIFY_ATTEMPTS,
      retryBaseMs: e.NOTIFY_RETRY_BASE_MS,
      flushMs: e.NOTIFY_FLUSH_SECONDS * 1000,
      metricsToken: e.METRICS_TOKEN,
      publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    },
    allowedPaths,
    warnings,
  };
}

// The few settings read where no Config reaches, at each call (tests change them between calls): still read
// here only, so this file stays the one reader of process.env.

/** The variable a `--X-env VAR` flag names (the CLI reads secrets this way), or undefined. */
export function namedVariable(name: string): string | undefined {
  return process.env[name];
}

/** Where client programs are looked for: a pinned folder per engine (COFFRE_PG_BIN_DIR, COFFRE_MYSQL_BIN_DIR), then PATH. */
export function clientToolDirs(): { pgBinDir?: string; mysqlBinDir?: string; path: string[] } {
  return {
    pgBinDir: process.env.COFFRE_PG_BIN_DIR || undefined,
    mysqlBinDir: process.env.COFFRE_MYSQL_BIN_DIR || undefined,
    path: (process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
  };
}

/**
 * CONNECT_TIMEOUT_SECONDS (default 10, 1 to 600): how long a connection to a database server may take, the
 * server's greeting and login included, before it fails with COFFRE_E_CONNECT_TIMEOUT (MySQL/MariaDB) or
 * as unreachable (PostgreSQL; a target URL's own connect_timeout wins there). Read at each connection.
 */
export function connectTimeoutSeconds(): number {
  const text = process.env.CONNECT_TIMEOUT_SECONDS;
  if (text === undefined || text === '') return 10;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 600) {
    throw usageError('BAD_CONFIG', `Environment variable CONNECT_TIMEOUT_SECONDS must be a whole number of seconds from 1 to 600 (got "${text}").`, {
      variable: 'CONNECT_TIMEOUT_SECONDS',
    });
  }
  return n;
}

/** COFFRE_DEBUG=1: the CLI prints an error's stack (redacted) below its message. */
export function debugStacks(): boolean {
  return process.env.COFFRE_DEBUG === '1';
}

/** The variables of coffre's own environment whose name `inherit` accepts: what a child may be given (children/process.ts). */
export function inheritedEnvironment(inherit: (name: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && inherit(k)) out[k] = v;
  return out;
}
