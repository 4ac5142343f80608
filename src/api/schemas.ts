// The API's request and response shapes in zod, in the CLI's words (a target is {name, url}, a plan
// {name, targetId, destinationId, kind, compression, cron}). Request schemas are what every route checks;
// response schemas only document (the services build the answers). Lengths are bounded so that no input
// can make the server do unbounded work.

import { z } from 'zod';
import { backupKinds, canonicalCompression, compressionNames, engineNames } from '../core/types.ts';
import { backupStatuses } from '../catalog/journal.ts';

const kinds = backupKinds as unknown as [string, ...string[]];
const compressions = compressionNames as unknown as [string, ...string[]];
/** A compression named in a request: an alias (`tar.gz`) is read as its canonical name. */
const compressionInput = z.preprocess(canonicalCompression, z.enum(compressions));
const statuses = ['running', 'success', 'failed', 'interrupted'] as const;
const journalStatuses = backupStatuses;

const ref = z.string().min(1).max(200);
const name = z.string().min(1).max(63);

/** `:id`: an id, an id prefix of 6+ characters, or a name. */
export const IdParams = z.object({ id: ref });

const isoTime = z
  .string()
  .max(64)
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date or time, e.g. 2025-01-31T00:00:00Z')
  .transform((v) => new Date(Date.parse(v)).toISOString());

const globList = z.array(z.string().min(1).max(200)).max(100);
/** A server target's fields (issue 15): every database of the server, filtered by name globs. */
const serverFields = {
  allDatabases: z.boolean().optional().describe('a server target even though the URL names a database (a URL without one is a server target anyway)'),
  include: globList.optional().describe('server target: back up only databases matching one of these globs (a system database only when named literally)'),
  exclude: globList.optional().describe('server target: leave out databases matching one of these globs'),
  parallel: z.number().int().min(1).max(32).optional().describe('server target: databases dumped at once (default 1)'),
};
export const TargetCreate = z.object({ name, url: z.string().min(1).max(4096), ...serverFields });
export const TargetPatch = z
  .object({ name: name.optional(), url: z.string().min(1).max(4096).optional(), ...serverFields })
  .refine((v) => Object.values(v).some((x) => x !== undefined), 'give at least one of name, url, allDatabases, include, exclude, parallel');

const settingValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]);
/** A destination: name, type and the backend's settings (`path` for local; cloud fields for the others). */
export const DestinationCreate = z.object({ name, type: z.string().min(1).max(32), path: z.string().min(1).max(4096).optional() }).catchall(settingValue);
export const DestinationPatch = z
  .object({ name: name.optional(), type: z.string().min(1).max(32).optional(), path: z.string().min(1).max(4096).optional() })
  .catchall(settingValue)
  .refine((v) => Object.keys(v).length > 0, 'give at least one field to change');

/** Retention rules of a plan (issue 4); null or {} for none. */
const Retention = z
  .object({
    keepLast: z.number().int().min(0).max(100000).optional(),
    daily: z.number().int().min(0).max(100000).optional(),
    weekly: z.number().int().min(0).max(100000).optional(),
    monthly: z.number().int().min(0).max(100000).optional(),
    yearly: z.number().int().min(0).max(100000).optional(),
    maxAgeDays: z.number().positive().max(36500).optional(),
  })
  .strict();
const scheduleFields = {
  retention: Retention.nullable().optional(),
  missedRuns: z.enum(['run-once', 'skip']).nullable().optional(),
  missedGraceSeconds: z
    .number()
    .int()
    .min(0)
    .max(31 * 86400)
    .nullable()
    .optional(),
  encryptTo: z
    .array(z.string().min(1).max(200))
    .max(64)
    .nullable()
    .optional()
    .describe('age recipients (age1… public keys) new backups are encrypted to; null or [] turns encryption off'),
};

/** A plan's notification rules, RPO and dead man's switch (issue 12). */
const alertingFields = {
  notify: z.array(ref).max(32).optional().describe('notifier names or ids the plan notifies; [] to use the default set'),
  notifyOn: z
    .array(z.enum(['failure', 'partial', 'rpo', 'drill', 'success']))
    .min(1)
    .max(5)
    .optional()
    .describe('events of the rules given in notify (default failure, partial, rpo, drill)'),
  rpo: z
    .union([z.string().max(32), z.number().int().positive()])
    .nullable()
    .optional()
    .describe('e.g. "26h", or seconds; null removes it'),
  pingUrl: z.string().max(4096).nullable().optional().describe("dead man's switch URL (/start, the URL, /fail are pinged); write-only"),
};

/** A plan's restore drill settings (issue 13). */
const drillFields = {
  drill: z
    .object({
      cron: z.string().max(200).nullable().optional().describe('drills run by coffre serve on this cron; null removes it'),
      rto: z
        .union([z.string().max(32), z.number().int().positive()])
        .nullable()
        .optional()
        .describe('RTO objective, e.g. "30m" or seconds; a longer drill fails its rto check'),
      target: ref.nullable().optional().describe("target (name or id) whose server drills restore on; null: the plan's own"),
      assertions: z
        .array(z.string().max(16384))
        .max(50)
        .nullable()
        .optional()
        .describe('SQL queries whose first value must be true or non-zero (MongoDB: JSON {"collection", "filter", "min", "max"}); replaces the list'),
      assertTimeout: z
        .union([z.string().max(32), z.number().int().positive()])
        .nullable()
        .optional()
        .describe("each assertion's timeout (default 60 s)"),
    })
    .optional(),
};

const destinationIds = z.array(ref).min(1).max(16).describe('every destination the plan uploads to (ids or names), in order; the first is destinationId');
export const PlanCreate = z
  .object({
    name,
    targetId: ref,
    destinationId: ref.optional().describe('one destination; or give destinationIds for several'),
    destinationIds: destinationIds.optional(),
    kind: z.enum(kinds).optional(),
    compression: compressionInput.nullable().optional(),
    cron: z.string().max(200).nullable().optional(),
    timezone: z.string().max(100).nullable().optional(),
    ...scheduleFields,
    ...alertingFields,
    ...drillFields,
  })
  .refine((v) => v.destinationId !== undefined || v.destinationIds !== undefined, { message: 'give destinationId or destinationIds', path: ['destinationId'] })
  .refine((v) => v.destinationId === undefined || v.destinationIds === undefined || v.destinationIds[0] === v.destinationId, {
    message: 'destinationId must be the first of destinationIds (or give only one of them)',
    path: ['destinationIds'],
  });
export const PlanPatch = z
  .object({
    name: name.optional(),
    targetId: ref.optional(),
    destinationId: ref.optional(),
    destinationIds: destinationIds.optional(),
    kind: z.enum(kinds).optional(),
    compression: compressionInput.nullable().optional(),
    cron: z.string().max(200).nullable().optional(),
    timezone: z.string().max(100).nullable().optional(),
    enabled: z.boolean().optional(),
    ...scheduleFields,
    ...alertingFields,
    ...drillFields,
  })
  .refine((v) => Object.keys(v).length > 0, 'give at least one field to change');

const BackupOptions = z.object({ variant: z.enum(kinds).optional(), compressionFormat: compressionInput.optional() });
export const BackupCreate = z.object({ planId: ref, options: BackupOptions.optional() });
export const ExecuteBody = z.object({ options: BackupOptions.optional() }).optional();
export const DrillBody = z
  .object({
    backupId: ref.optional().describe("a backup of the plan (id or prefix); default: the plan's latest restorable one"),
    drillTargetId: ref.optional().describe("restore on this target's server instead of the plan's drill target"),
  })
  .strict()
  .optional();

const RestoreOptions = z.object({
  /** Accepted for compatibility: the format is always sniffed from the bytes. */
  compressionFormat: compressionInput.optional(),
  replace: z.boolean().optional(),
  /** SQL dumps holding several databases: the one to restore. */
  database: z.string().min(1).max(255).optional(),
  /** SQL dumps: let COPY ... FROM/TO PROGRAM in the file run on the database server. */
  allowProgram: z.boolean().optional(),
  /** A PostgreSQL server run (journalId is a run's id): restore its globals (missing roles) rather than its databases. */
  globals: z.boolean().optional().describe("with a PostgreSQL server run's id: restore its roles (missing ones only) instead of its databases"),
});
export const RestoreCreate = z
  .object({ journalId: ref.optional(), path: z.string().min(1).max(4096).optional(), targetId: ref.optional(), options: RestoreOptions.optional() })
  .refine((v) => (v.journalId === undefined) !== (v.path === undefined), { message: 'give either journalId or path (not both)', path: ['journalId'] });
export const RestoreAliasBody = z.object({ targetId: ref.optional(), options: RestoreOptions.optional() }).optional();

export const JournalQuery = z.object({
  planId: ref.optional(),
  status: z.enum(journalStatuses).optional(),
  kind: z.enum(kinds).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});

export const RestoreQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});

export const EventsQuery = z.object({
  jobId: ref.optional(),
  /** For EventSource, which cannot send headers. */
  access_token: z.string().max(500).optional(),
});

// Responses (documentation).
export const ErrorResponse = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) });
export const Target = z.object({
  id: z.string(),
  name: z.string(),
  engine: z.enum(engineNames as unknown as [string, ...string[]]),
  url: z.string().describe('password masked'),
  createdAt: z.string(),
  updatedAt: z.string(),
  server: z.boolean().describe('a server target: every database of the server that passes include/exclude'),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  parallel: z.number(),
});
export const TargetTest = z.object({
  ok: z.boolean(),
  target: Target,
  tool: z.string().optional(),
  clientVersion: z.string().optional(),
  serverVersion: z.string().optional(),
  databases: z.array(z.string()).optional().describe('server target: the databases its next run would back up'),
  error: ErrorResponse.shape.error.optional(),
});
export const Destination = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  config: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const DestinationTest = z.object({ ok: z.boolean(), destination: Destination, error: ErrorResponse.shape.error.optional() });
export const Plan = z.object({
  id: z.string(),
  name: z.string(),
  target: z.string(),
  targetId: z.string(),
  destination: z.string(),
  destinationId: z.string(),
  destinations: z.array(z.string()),
  destinationIds: z.array(z.string()),
  kind: z.enum(kinds),
  compression: z.enum(compressions).nullable(),
  cron: z.string().nullable(),
  timezone: z.string().nullable(),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  retention: Retention.nullable(),
  missedRuns: z.enum(['run-once', 'skip']),
  missedGraceSeconds: z.number(),
  encryptTo: z.array(z.string()).describe('age recipients new backups are encrypted to; empty: not encrypted'),
  nextRuns: z.array(z.string()).describe('next scheduled run times (ISO), in the plan time zone or SCHEDULER_TIMEZONE'),
  alerting: z.object({
    notify: z.array(z.object({ notifier: z.string(), events: z.array(z.string()) })).describe("the plan's rules; empty: the default set"),
    rpoSeconds: z.number().nullable(),
    pingUrl: z.string().nullable().describe('origin only'),
  }),
  drill: z.object({
    cron: z.string().nullable(),
    rtoSeconds: z.number().nullable(),
    target: z.string().nullable(),
    assertions: z.array(z.string()),
    assertTimeoutSeconds: z.number(),
    nextDrills: z.array(z.string()),
  }),
});
const nullableNumber = z.number().nullable();
export const CopyRow = z.object({
  destination: z.string(),
  destinationId: z.string(),
  type: z.string().nullable(),
  key: z.string(),
  status: z.enum(['running', 'success', 'failed', 'pruned']),
  sizeBytes: nullableNumber,
  checksum: z.string().nullable().describe('the provider checksum or etag the upload was checked against'),
  message: z.string().nullable(),
});
export const JournalRow = z.object({
  id: z.string(),
  status: z.enum(journalStatuses),
  kind: z.enum(kinds),
  requestedKind: z.enum(kinds),
  plan: z.string(),
  target: z.string(),
  engine: z.string(),
  database: z.string(),
  compression: z.string(),
  rawFormat: z.string().nullable(),
  sizeBytes: nullableNumber,
  rawSizeBytes: nullableNumber,
  sha256: z.string().nullable(),
  rawSha256: z.string().nullable(),
  artifact: z.string().nullable(),
  parentId: z.string().nullable(),
  trigger: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: nullableNumber,
  tool: z.string().nullable(),
  clientVersion: z.string().nullable(),
  serverVersion: z.string().nullable(),
  message: z.string().nullable(),
  copies: z.array(CopyRow).describe("one entry per destination the artifact was sent to, with that upload's outcome"),
  recipients: z.array(z.string()).describe('the age recipients (public keys) the artifact is encrypted to; empty: not encrypted'),
  lastVerifiedAt: z.string().nullable().describe('when `coffre verify` last checked this backup'),
  lastVerifyStatus: z.enum(['success', 'failed']).nullable(),
  lastVerifyMessage: z.string().nullable(),
  adoption: z
    .enum(['pending', 'adopted'])
    .nullable()
    .describe("rows imported by reindex: pending until an admin adopts them (they count for no plan, and a restore needs targetId), then adopted; null for coffre's own runs"),
  adoptedAt: z.string().nullable(),
  adoptedBy: z.string().nullable().describe('the token (or cli:USER) that adopted the row'),
  runId: z.string().nullable().optional().describe('server targets: the server run this row is one database of (for the run itself: its own id)'),
  runPart: z.string().nullable().optional().describe("server targets: 'database', 'globals' (PostgreSQL roles and tablespaces), or 'run' for the run itself"),
  databases: z.array(z.any()).optional().describe("a server run: each database's journal row (the same fields), the globals' too"),
  newDatabases: z.array(z.string()).optional().describe('a server run: databases new since the previous run (each a full)'),
  vanished: z.array(z.string()).optional().describe('a server run: databases gone since the previous run (their backups are kept)'),
  failedDatabases: z.array(z.string()).optional().describe('a server run: databases whose backup failed'),
});
export const RestoreRow = z.object({
  id: z.string(),
  status: z.enum(statuses),
  backupId: z.string().nullable(),
  source: z.string().nullable(),
  plan: z.string().nullable(),
  kind: z.string().nullable(),
  artifact: z.string().nullable(),
  sha256: z.string().nullable(),
  target: z.string(),
  engine: z.string(),
  database: z.string(),
  replace: z.boolean(),
  sizeBytes: nullableNumber,
  rawSizeBytes: nullableNumber,
  trigger: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: nullableNumber,
  message: z.string().nullable(),
});
export const ServerRestoreRow = z.object({
  runId: z.string().describe('the server run restored'),
  target: z.string(),
  status: z.enum(['success', 'partial', 'failed']),
  restores: z.array(RestoreRow).describe('one restore per database of the run (or its globals), in order'),
  message: z.string(),
});
export const JournalPage = z.object({ items: z.array(JournalRow), limit: z.number(), offset: z.number(), nextOffset: z.number().nullable() });
export const DrillQuery = z.object({
  planId: ref.optional().describe('plan id or name'),
  status: z.enum(statuses).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});
const DrillCheckRow = z.object({
  name: z.enum(['restore', 'row-counts', 'assertion', 'rto']),
  status: z.enum(['passed', 'failed', 'skipped']),
  message: z.string(),
  durationMs: z.number().nullable(),
  assertion: z.string().optional(),
  value: z.string().optional(),
  method: z.string().optional(),
  tables: z.number().optional(),
  mismatches: z.array(z.object({ table: z.string(), expected: z.number(), found: z.number().nullable() })).optional(),
});
/** A restore drill, as `coffre drill --json` prints it. */
export const DrillRow = z.object({
  id: z.string(),
  status: z.enum(statuses),
  plan: z.string(),
  planId: z.string().nullable(),
  backupId: z.string().nullable(),
  target: z.string(),
  engine: z.string(),
  scratch: z.string().describe('the scratch database (SQLite: file) restored into, dropped at the end'),
  scratchCreated: z.boolean(),
  scratchDropped: z.boolean(),
  checks: z.array(DrillCheckRow).describe('in order: restore, row-counts, each assertion, rto'),
  rtoMs: z.number().nullable().describe('time from start to a checked database'),
  rtoObjectiveSeconds: z.number().nullable(),
  trigger: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  message: z.string().nullable(),
});
export const DrillPage = z.object({ items: z.array(DrillRow), limit: z.number(), offset: z.number(), nextOffset: z.number().nullable() });
export const RestorePage = z.object({ items: z.array(RestoreRow), limit: z.number(), offset: z.number(), nextOffset: z.number().nullable() });
const ReindexItem = z.object({ id: z.string(), plan: z.string(), kind: z.string(), artifact: z.string(), startedAt: z.string() });
/** What POST /api/destinations/:id/reindex found and did: the report of `coffre reindex --json`. */
export const ReindexReport = z.object({
  destination: z.string(),
  destinationId: z.string(),
  scanned: z.number().describe('objects listed in the destination'),
  imported: z.array(ReindexItem).describe('backups the journal did not know, now journaled success with a copy here'),
  linked: z.array(ReindexItem).describe('known backups that gained the record of their copy here'),
  skipped: z.array(ReindexItem).describe('known backups whose copy here was already recorded'),
  orphans: z.array(z.object({ key: z.string(), sizeBytes: z.number() })).describe('objects without a manifest: never imported'),
  invalid: z.array(z.object({ key: z.string(), reason: z.string() })).describe('manifests that do not check out'),
});
export const Job = z.object({
  id: z.string(),
  type: z.enum(['backup', 'restore', 'drill']),
  status: z.enum(['queued', 'running', 'success', 'failed', 'interrupted']),
  planId: z.string().nullable(),
  plan: z.string().nullable(),
  targetId: z.string().nullable(),
  journalId: z.string().nullable().describe('set once the run is journaled (null while queued)'),
  trigger: z.string(),
  bytes: z.number(),
  rateBytesPerSecond: z.number(),
  queuedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  result: z.union([JournalRow, RestoreRow, DrillRow, ServerRestoreRow]).nullable(),
  error: ErrorResponse.shape.error.nullable(),
});
export const Accepted = z.object({ jobId: z.string(), journalId: z.string().nullable(), status: z.string(), job: Job });
export const Health = z.object({ status: z.string() });

// Notifications, status and metrics (issue 12).
const notifierSetting = z.union([z.string().max(8192), z.number(), z.boolean(), z.null()]);
const ruleEvents = z
  .array(z.enum(['failure', 'partial', 'rpo', 'drill', 'success']))
  .min(1)
  .max(5);
/** A notifier: name, type, default-set membership and the channel's settings (url, secret, token, host, …). */
export const NotifierCreate = z.object({ name, type: z.string().min(1).max(32), default: z.boolean().optional(), events: ruleEvents.optional() }).catchall(notifierSetting);
export const NotifierPatch = z
  .object({ name: name.optional(), type: z.string().min(1).max(32).optional(), default: z.boolean().optional(), events: ruleEvents.nullable().optional() })
  .catchall(notifierSetting)
  .refine((v) => Object.keys(v).length > 0, 'give at least one field to change');
export const Delivery = z.object({
  id: z.string(),
  notifier: z.string(),
  channel: z.string(),
  event: z.string(),
  plan: z.string().nullable(),
  journalId: z.string().nullable(),
  status: z.enum(['pending', 'sending', 'sent', 'failed']),
  attempts: z.number(),
  lastError: z.string().nullable(),
  response: z.string().nullable(),
  createdAt: z.string(),
  sentAt: z.string().nullable(),
});
export const Notifier = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  target: z.string().describe('where messages go, without secrets'),
  config: z.record(z.string(), z.unknown()),
  default: z.boolean(),
  defaultEvents: z.array(z.string()),
  plans: z.array(z.string()),
  lastDelivery: Delivery.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const NotifierTest = z.object({ notifier: z.string(), type: z.string(), status: z.enum(['sent', 'failed']), attempts: z.number(), answer: z.string() });
export const NotificationQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50), notifier: ref.optional() });
export const PlanHealth = z.object({
  plan: z.string(),
  planId: z.string(),
  health: z.enum(['ok', 'failing', 'stale', 'never']),
  enabled: z.boolean(),
  rpoSeconds: z.number().nullable(),
  rpoBreached: z.boolean(),
  lastSuccessAt: z.string().nullable(),
  lastSuccessAgeSeconds: z.number().nullable(),
  lastSuccessId: z.string().nullable(),
  lastRunStatus: z.string().nullable(),
  lastRunAt: z.string().nullable(),
  lastFailureAt: z.string().nullable(),
  lastFailureId: z.string().nullable(),
  lastFailureMessage: z.string().nullable(),
  nextRun: z.string().nullable(),
  lastDrillId: z.string().nullable(),
  lastDrillStatus: z.string().nullable().describe("the latest finished restore drill's status"),
  lastDrillAt: z.string().nullable(),
  lastDrillRtoMs: z.number().nullable(),
  lastDrillSuccessAt: z.string().nullable(),
  lastDrillSuccessRtoMs: z.number().nullable(),
  lastServerRunId: z.string().nullable().optional().describe('server targets: the latest finished server run'),
  lastServerRunStatus: z.string().nullable().optional().describe("server targets: that run's status (success, partial, failed, interrupted)"),
  lastServerRunMessage: z.string().nullable().optional(),
});
export const StatusReport = z.object({ ok: z.boolean().describe('every plan is ok'), checkedAt: z.string(), plans: z.array(PlanHealth) });
