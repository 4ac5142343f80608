// The catalog's tables as Kysely sees them (snake_case columns, as stored). Repositories turn rows into
// camelCase records; nothing outside src/catalog reads these row types.

export interface TargetsTable {
  id: string;
  name: string;
  engine: string;
  url_display: string;
  url_enc: string;
  created_at: string;
  updated_at: string;
  /** Migration 0014: 1 for a server target (every database of a server), its name filters (JSON arrays) and parallelism. */
  server?: number;
  include_globs?: string | null;
  exclude_globs?: string | null;
  parallel?: number | null;
}

export interface DestinationsTable {
  id: string;
  name: string;
  type: string;
  config: string;
  secrets_enc: string | null;
  created_at: string;
  updated_at: string;
}

export interface PlansTable {
  id: string;
  name: string;
  target_id: string;
  kind: string;
  compression: string | null;
  cron: string | null;
  timezone: string | null;
  retention: string | null;
  enabled: number;
  created_at: string;
  updated_at: string;
  /** Missed-run policy (migration 0003): 'run-once' or 'skip'; null means 'run-once'. */
  missed_runs?: string | null;
  missed_grace_seconds?: number | null;
  /** Age recipients (migration 0008): a JSON array of age1… public keys; null means not encrypted. */
  encrypt_to?: string | null;
}

export interface BackupsTable {
  id: string;
  plan_id: string | null;
  plan_name: string;
  target_id: string | null;
  target_name: string;
  engine: string;
  database: string;
  kind: string;
  requested_kind: string;
  parent_id: string | null;
  parent_sha256: string | null;
  status: string;
  trigger: string;
  compression: string;
  raw_format: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  raw_size_bytes: number | null;
  size_bytes: number | null;
  sha256: string | null;
  raw_sha256: string | null;
  artifact_key: string | null;
  server_version: string | null;
  client_version: string | null;
  tool: string | null;
  message: string | null;
  pid: number | null;
  host: string | null;
  /** Added by migration 0003: the cron tick this run was for, the cluster job, liveness, prune mark. */
  scheduled_for?: string | null;
  job_id?: string | null;
  heartbeat_at?: string | null;
  pruned_at?: string | null;
  prune_reason?: string | null;
  /** Added by migration 0005: the latest `coffre verify` of this backup. */
  verified_at?: string | null;
  /** Added by migration 0013: per-table row counts from the dump stream, JSON {method, tables}. */
  row_counts?: string | null;
  verify_status?: string | null;
  verify_message?: string | null;
  /** Added by migration 0008: the age recipients the artifact was encrypted to (JSON array), null when not encrypted. */
  recipients?: string | null;
  /**
   * Added by migration 0012, for rows imported by `coffre reindex` (trigger 'reindex'): the plan their
   * manifest named by id (if it exists here), and when and by whom a person adopted the row into a plan.
   * Until adopted, an imported row has plan_id null: it counts for no plan.
   */
  import_plan_id?: string | null;
  adopted_at?: string | null;
  adopted_by?: string | null;
  /** Migration 0014: the server run (server_runs.id) this row is one database of, and 'database' or 'globals'. */
  run_id?: string | null;
  run_part?: string | null;
}

/** One run of a plan on a server target (migration 0014): the group of its per-database backup rows. */
export interface ServerRunsTable {
  id: string;
  plan_id: string | null;
  plan_name: string;
  target_id: string | null;
  target_name: string;
  engine: string;
  status: string;
  trigger: string;
  requested_kind: string;
  /** JSON arrays of database names. */
  databases: string | null;
  new_databases: string | null;
  vanished: string | null;
  failed: string | null;
  message: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  pid: number | null;
  host: string | null;
  /** Migration 0015: in cluster mode, the pg-boss job the run is for and its worker's last heartbeat (the lease of the group and its rows). */
  job_id?: string | null;
  heartbeat_at?: string | null;
}

/** One row per (plan, cron tick): claimed by exactly one worker (migration 0003). */
export interface ScheduleTicksTable {
  plan_id: string;
  tick_at: string;
  /** 'started', 'queued' (cluster), 'skipped', 'done'. */
  outcome: string;
  job_id: string | null;
  created_at: string;
}

export interface BackupCopiesTable {
  id: string;
  backup_id: string;
  destination_id: string;
  key: string;
  size_bytes: number | null;
  checksum: string | null;
  status: string;
  message: string | null;
  created_at: string;
}

/** The destinations of each plan, in order (migration 0004). */
export interface PlanDestinationsTable {
  plan_id: string;
  destination_id: string;
  position: number;
}

export interface RestoresTable {
  id: string;
  backup_id: string | null;
  source_path: string | null;
  target_id: string | null;
  target_name: string;
  engine: string;
  database: string;
  replace: number;
  status: string;
  trigger: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  raw_size_bytes: number | null;
  message: string | null;
  pid: number | null;
  host: string | null;
}

/** Age identities kept in the catalog on request (migration 0008), for unattended restores and drills. */
export interface AgeIdentitiesTable {
  id: string;
  name: string;
  /** Its public key (age1…), safe to show. */
  recipient: string;
  /** The AGE-SECRET-KEY-1… text, sealed with the catalog secret (core/secrets.ts). */
  secret: string;
  created_at: string;
}

export interface SettingsTable {
  key: string;
  value: string;
}

/** Notification channels (migration 0009); secrets sealed in secrets_enc. */
export interface NotifiersTable {
  id: string;
  name: string;
  type: string;
  config: string;
  secrets_enc: string | null;
  is_default: number;
  default_events: string | null;
  created_at: string;
  updated_at: string;
}

/** Which channels a plan notifies, on which events (comma-separated). */
export interface PlanNotifiersTable {
  plan_id: string;
  notifier_id: string;
  events: string;
}

/** A plan's RPO and dead man's switch URL (sealed). */
export interface PlanAlertingTable {
  plan_id: string;
  rpo_seconds: number | null;
  ping_url_enc: string | null;
  ping_url_display: string | null;
  updated_at: string;
}

/** What has been announced about a plan; changed by compare-and-set on version. */
export interface PlanAlertStateTable {
  plan_id: string;
  version: number;
  failing_since: string | null;
  failing_status: string | null;
  failing_alert_at: string | null;
  stale_since: string | null;
  stale_alert_at: string | null;
  updated_at: string;
}

/** One row per announced event; event_key is the cluster-wide claim. */
export interface NotifyEventsTable {
  id: string;
  event_key: string;
  event: string;
  plan_id: string | null;
  plan_name: string | null;
  run_id: string | null;
  payload: string;
  created_at: string;
}

/** The notification journal: one row per event and channel. */
export interface NotifyDeliveriesTable {
  id: string;
  event_id: string;
  channel_key: string;
  notifier_id: string | null;
  notifier_name: string;
  channel: string;
  status: string;
  attempts: number;
  last_error: string | null;
  response: string | null;
  next_attempt_at: string;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

/** A plan's restore drill settings (migration 0013). */
export interface PlanDrillsTable {
  plan_id: string;
  cron: string | null;
  rto_seconds: number | null;
  /** The target whose server drills restore on; null: the plan's own target's server. */
  target_id: string | null;
  /** JSON array of assertion strings (SQL, or MongoDB JSON). */
  assertions: string | null;
  assert_timeout_seconds: number | null;
  updated_at: string;
}

/** The drill journal (migration 0013). */
export interface DrillsTable {
  id: string;
  plan_id: string | null;
  plan_name: string;
  backup_id: string | null;
  target_id: string | null;
  target_name: string;
  engine: string;
  /** The scratch database's name (SQLite: the temporary file's path). */
  scratch: string;
  /** 1 once coffre created the scratch database (so only then is it coffre's to drop). */
  scratch_created: number;
  scratch_dropped: number;
  status: string;
  trigger: string;
  /** JSON array of DrillCheck. */
  checks: string | null;
  rto_ms: number | null;
  rto_limit_seconds: number | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  message: string | null;
  scheduled_for: string | null;
  pid: number | null;
  host: string | null;
}

export interface CatalogSchema {
  targets: TargetsTable;
  destinations: DestinationsTable;
  plans: PlansTable;
  plan_destinations: PlanDestinationsTable;
  backups: BackupsTable;
  backup_copies: BackupCopiesTable;
  restores: RestoresTable;
  settings: SettingsTable;
  schedule_ticks: ScheduleTicksTable;
  notifiers: NotifiersTable;
  plan_notifiers: PlanNotifiersTable;
  plan_alerting: PlanAlertingTable;
  plan_alert_state: PlanAlertStateTable;
  notify_events: NotifyEventsTable;
  notify_deliveries: NotifyDeliveriesTable;
  age_identities: AgeIdentitiesTable;
  plan_drills: PlanDrillsTable;
  drills: DrillsTable;
  server_runs: ServerRunsTable;
}
