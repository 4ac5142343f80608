// Plan health for the person on call (`coffre status`, GET /api/status) and for Prometheus (GET /metrics), both
// computed from the catalog alone, so any process, any worker of a cluster, answers for all of them.
//
// Health of a plan: `failing` when its latest finished run did not succeed (failed, partial, interrupted);
// `never` when it has no successful backup at all; `stale` when its latest success is older than its RPO;
// `ok` otherwise. Besides, each plan's latest restore drill (status, RTO, time): a plan whose latest drill did
// not pass makes the report not ok either (its backups may not restore).

import { isoNow } from '../core/ids.ts';
import { listPlans } from '../catalog/plans.ts';
import { backupRunCounts, latestBackups, restoreRunCounts } from '../catalog/health.ts';
import { deliveryCounts, listAlerting } from '../catalog/notifications.ts';
import { drillCounts, latestDrills } from '../catalog/drills.ts';
import { latestServerRuns } from '../catalog/server-runs.ts';
import { nextRuns, scheduleOf } from '../core/cron.ts';
import { redact } from '../core/redact.ts';
import type { ServiceContext } from './service-context.ts';
import { finishedStatuses, rpoReference } from './notifications.ts';

export type Health = 'ok' | 'failing' | 'stale' | 'never';

export interface PlanStatus {
  plan: string;
  planId: string;
  health: Health;
  enabled: boolean;
  rpoSeconds: number | null;
  /** Whether the RPO is breached now (no successful backup younger than it). */
  rpoBreached: boolean;
  lastSuccessAt: string | null;
  /** Seconds since the latest success finished. */
  lastSuccessAgeSeconds: number | null;
  lastSuccessId: string | null;
  lastRunStatus: string | null;
  lastRunAt: string | null;
  lastFailureAt: string | null;
  lastFailureId: string | null;
  lastFailureMessage: string | null;
  nextRun: string | null;
  /** The latest finished restore drill: its id, status (success, failed, interrupted), end and RTO. */
  lastDrillId: string | null;
  lastDrillStatus: string | null;
  lastDrillAt: string | null;
  lastDrillRtoMs: number | null;
  /** When the latest passed drill finished, and its RTO. */
  lastDrillSuccessAt: string | null;
  lastDrillSuccessRtoMs: number | null;
  /** Server targets: the latest finished server run (the group), its status and message; absent otherwise. */
  lastServerRunId?: string | null;
  lastServerRunStatus?: string | null;
  lastServerRunMessage?: string | null;
}

export interface StatusReport {
  /** True when every plan is `ok` (the CLI's exit code 0). */
  ok: boolean;
  checkedAt: string;
  plans: PlanStatus[];
}

/** Every plan's health. */
export async function planStatuses(ctx: ServiceContext, now = new Date()): Promise<StatusReport> {
  const db = ctx.catalog.db;
  const [plans, alerting, success, finished, failures, drills] = await Promise.all([
    listPlans(db),
    listAlerting(db),
    latestBackups(db, ['success']),
    latestBackups(db, finishedStatuses),
    latestBackups(db, ['failed', 'partial', 'interrupted']),
    latestDrills(db),
  ]);
  const serverRuns = new Map((await latestServerRuns(db)).map((r) => [r.planId, r]));
  const rows = plans.map((p): PlanStatus => {
    const good = success.get(p.id);
    const last = finished.get(p.id);
    const bad = failures.get(p.id);
    const drill = drills.get(p.id);
    const rpo = alerting.get(p.id)?.rpoSeconds ?? null;
    const ref = rpoReference(p, good);
    const breached = rpo !== null && now.getTime() - Date.parse(ref) > rpo * 1000;
    // A server target's plan is as healthy as its latest run as a whole (one database's row failing is the run's).
    const group = serverRuns.get(p.id);
    const health: Health = (last && last.status !== 'success') || (group && group.status !== 'success') ? 'failing' : !good ? 'never' : breached ? 'stale' : 'ok';
    const goodAt = good ? (good.finishedAt ?? good.startedAt) : null;
    let nextRun: string | null = null;
    const schedule = p.enabled ? scheduleOf(p, ctx.config.scheduler.timezone) : null;
    if (schedule) {
      try {
        nextRun = nextRuns(schedule, now, 1)[0]?.toISOString() ?? null;
      } catch {
        nextRun = null;
      }
    }
    return {
      plan: p.name,
      planId: p.id,
      health,
      enabled: p.enabled,
      rpoSeconds: rpo,
      rpoBreached: breached,
      lastSuccessAt: goodAt,
      lastSuccessAgeSeconds: goodAt ? Math.max(0, Math.round((now.getTime() - Date.parse(goodAt)) / 1000)) : null,
      lastSuccessId: good?.id ?? null,
      lastRunStatus: last?.status ?? null,
      lastRunAt: last ? (last.finishedAt ?? last.startedAt) : null,
      lastFailureAt: bad ? (bad.finishedAt ?? bad.startedAt) : null,
      lastFailureId: bad?.id ?? null,
      lastFailureMessage: bad?.message ? redact(bad.message) : null,
      nextRun,
      lastDrillId: drill?.last?.id ?? null,
      lastDrillStatus: drill?.last?.status ?? null,
      lastDrillAt: drill?.last ? (drill.last.finishedAt ?? drill.last.startedAt) : null,
      lastDrillRtoMs: drill?.last?.rtoMs ?? null,
      lastDrillSuccessAt: drill?.lastSuccess ? (drill.lastSuccess.finishedAt ?? drill.lastSuccess.startedAt) : null,
      lastDrillSuccessRtoMs: drill?.lastSuccess?.rtoMs ?? null,
      ...(group ? { lastServerRunId: group.id, lastServerRunStatus: group.status, lastServerRunMessage: group.message ? redact(group.message) : null } : {}),
    };
  });
  return { ok: rows.every((r) => r.health === 'ok' && (r.lastDrillStatus === null || r.lastDrillStatus === 'success')), checkedAt: isoNow(now), plans: rows };
}

// --- Prometheus ----------------------------------------------------------------------------------------------

type PromClient = typeof import('prom-client');
let processRegistry: import('prom-client').Registry | undefined;

/** The process's default metrics (CPU, memory, event loop, GC), registered once. */
async function processMetrics(prom: PromClient): Promise<import('prom-client').Registry> {
  if (!processRegistry) {
    processRegistry = new prom.Registry();
    prom.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** GET /metrics: the catalog's metrics (every plan of the cluster) and this process's defaults, in the text format. */
export async function metricsText(ctx: ServiceContext, now = new Date()): Promise<{ contentType: string; body: string }> {
  const prom = await import('prom-client'); // loaded only by the server's /metrics
  const db = ctx.catalog.db;
  const reg = new prom.Registry();
  const gauge = (name: string, help: string, labelNames: string[]) => new prom.Gauge({ name, help, labelNames, registers: [reg] });
  const counter = (name: string, help: string, labelNames: string[]) => new prom.Counter({ name, help, labelNames, registers: [reg] });
  const [status, plans, byKind, counts, restores, deliveries] = await Promise.all([
    planStatuses(ctx, now),
    listPlans(db),
    latestBackups(db, finishedStatuses, true),
    backupRunCounts(db),
    restoreRunCounts(db),
    deliveryCounts(db),
  ]);
  const lastSuccess = gauge('coffre_backup_last_success_timestamp_seconds', 'Unix time the latest successful backup of the plan finished.', ['plan']);
  const lastStatus = gauge('coffre_backup_last_status', "1 for the status of the plan's latest finished backup, 0 for the others.", ['plan', 'status']);
  const rpoSeconds = gauge('coffre_plan_rpo_seconds', "The plan's RPO (--rpo) in seconds; absent for plans without one.", ['plan']);
  const rpoBreached = gauge('coffre_plan_rpo_breached', '1 when the plan has no successful backup younger than its RPO, else 0.', ['plan']);
  for (const s of status.plans) {
    if (s.lastSuccessAt) lastSuccess.set({ plan: s.plan }, Date.parse(s.lastSuccessAt) / 1000);
    if (s.lastRunStatus) for (const st of finishedStatuses) lastStatus.set({ plan: s.plan, status: st }, s.lastRunStatus === st ? 1 : 0);
    if (s.rpoSeconds !== null) {
      rpoSeconds.set({ plan: s.plan }, s.rpoSeconds);
      rpoBreached.set({ plan: s.plan }, s.rpoBreached ? 1 : 0);
    }
  }
  const runs = counter('coffre_backup_runs_total', 'Finished backup runs in the journal, by plan, kind and status (skipped ticks included).', ['plan', 'kind', 'status']);
  for (const c of counts) runs.inc({ plan: c.plan, kind: c.kind, status: c.status }, c.count);
  const duration = gauge('coffre_backup_duration_seconds', 'Duration of the latest finished backup of the plan and kind.', ['plan', 'kind']);
  const size = gauge('coffre_backup_size_bytes', 'Stored size of the latest finished backup of the plan and kind.', ['plan', 'kind']);
  const rawSize = gauge('coffre_backup_raw_size_bytes', 'Raw (uncompressed dump) size of the latest finished backup of the plan and kind.', ['plan', 'kind']);
  const names = new Map(plans.map((p) => [p.id, p.name]));
  for (const r of byKind.values()) {
    const labels = { plan: names.get(r.planId!) ?? r.planName, kind: r.kind };
    if (r.durationMs !== null) duration.set(labels, r.durationMs / 1000);
    if (r.sizeBytes !== null) size.set(labels, r.sizeBytes);
    if (r.rawSizeBytes !== null) rawSize.set(labels, r.rawSizeBytes);
  }
  const restoreRuns = counter('coffre_restore_runs_total', 'Finished restore runs in the journal, by status.', ['status']);
  for (const c of restores) restoreRuns.inc({ status: c.status }, c.count);
  const notifications = counter('coffre_notifications_total', 'Notification deliveries in the notification journal, by notifier and status (sent, failed, pending, sending).', [
    'notifier',
    'status',
  ]);
  for (const d of deliveries) notifications.inc({ notifier: d.notifier, status: d.status }, d.count);
  const drillSuccess = gauge('coffre_drill_last_success_timestamp_seconds', "Unix time the plan's latest passed restore drill finished.", ['plan']);
  const drillRto = gauge('coffre_drill_rto_seconds', "RTO measured by the plan's latest restore drill that got to a checked database (start to checked database).", ['plan']);
  const drillLast = gauge('coffre_drill_last_status', "1 for the status of the plan's latest finished restore drill, 0 for the others.", ['plan', 'status']);
  for (const s of status.plans) {
    if (s.lastDrillSuccessAt) drillSuccess.set({ plan: s.plan }, Date.parse(s.lastDrillSuccessAt) / 1000);
    const rto = s.lastDrillRtoMs ?? s.lastDrillSuccessRtoMs;
    if (rto !== null) drillRto.set({ plan: s.plan }, rto / 1000);
    if (s.lastDrillStatus) for (const st of ['success', 'failed', 'interrupted']) drillLast.set({ plan: s.plan, status: st }, s.lastDrillStatus === st ? 1 : 0);
  }
  const serverLast = gauge('coffre_server_run_last_status', "Server targets: 1 for the status of the plan's latest finished server run (the whole run), 0 for the others.", [
    'plan',
    'status',
  ]);
  const serverFailed = gauge('coffre_server_run_failed_databases', "Server targets: how many databases failed in the plan's latest finished server run.", ['plan']);
  for (const g of await latestServerRuns(db)) {
    const plan = names.get(g.planId!) ?? g.planName;
    for (const st of ['success', 'partial', 'failed', 'interrupted']) serverLast.set({ plan, status: st }, g.status === st ? 1 : 0);
    serverFailed.set({ plan }, g.failed.length);
  }
  const drillRuns = counter('coffre_drill_runs_total', 'Finished restore drills in the journal, by plan and status.', ['plan', 'status']);
  for (const c of await drillCounts(db)) drillRuns.inc({ plan: c.planName, status: c.status }, c.n);
  const merged = prom.Registry.merge([await processMetrics(prom), reg]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
