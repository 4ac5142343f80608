import { useEffect, useState } from 'preact/hooks';
import { api, can, onEvents, type Session } from '../api.ts';
import { bytes, duration, short, when } from '../format.ts';
import { RunChart } from '../chart.tsx';
import { ErrorBox, Field, Section, Status, useLoad } from '../ui.tsx';

const compressions = ['', 'gzip', 'zstd', 'zip', 'targz', 'none'];

/** Live progress of one job from /api/events (and its current state first, from /api/jobs/:id). */
export function useJob(jobId: string | undefined): any {
  const [job, setJob] = useState<any>();
  useEffect(() => {
    if (!jobId) return;
    setJob(undefined);
    const off = onEvents((_type, j) => {
      if (j.id === jobId) setJob(j);
    });
    api('GET', `/api/jobs/${jobId}`).then(
      (j) => setJob((cur: any) => cur ?? j),
      () => {},
    );
    return off;
  }, [jobId]);
  return job;
}

/** A job's progress; `entry` (default on) links the journal row it made once it is done. */
export function Progress({ job, expectedBytes, entry = true }: { job: any; expectedBytes?: number | null; entry?: boolean }) {
  if (!job) return <p aria-live="polite">Queued…</p>;
  const done = job.finishedAt !== null;
  const pct = expectedBytes && !done ? Math.min(99, Math.round((job.bytes / expectedBytes) * 100)) : done ? 100 : undefined;
  const eta = expectedBytes && job.rateBytesPerSecond > 0 && !done ? Math.max(0, (expectedBytes - job.bytes) / job.rateBytesPerSecond) : undefined;
  return (
    <div class="progress" aria-live="polite" data-status={job.status}>
      <p>
        <Status value={job.status} /> {bytes(job.bytes)} at {bytes(job.rateBytesPerSecond)}/s
        {eta !== undefined ? ` · about ${duration(eta * 1000)} left (from the last raw size, ${bytes(expectedBytes)})` : ''}
      </p>
      <progress max={100} value={pct} aria-label="progress" />
      {job.error ? <p class="error">{job.error.message}</p> : null}
      {entry && done && job.journalId ? (
        <p>
          Journal entry: <a href={`#/runs/${job.journalId}`}>{short(job.journalId)}</a>
        </p>
      ) : null}
    </div>
  );
}

export function PlanPage({ id, session }: { id: string; session: Session }) {
  const plan = useLoad(() => api('GET', `/api/plans/${encodeURIComponent(id)}`), [id]);
  const history = useLoad(() => api('GET', `/api/plans/${encodeURIComponent(id)}/history?limit=200`), [id]);
  const journal = useLoad(() => api('GET', `/api/journals?planId=${encodeURIComponent(id)}&limit=20`), [id]);
  const [kind, setKind] = useState('');
  const [compression, setCompression] = useState('');
  const [jobId, setJobId] = useState<string>();
  const [runError, setRunError] = useState<unknown>();
  const [prune, setPrune] = useState<any>();
  const [pruneError, setPruneError] = useState<unknown>();
  const [verify, setVerify] = useState<Record<string, any>>({});
  const job = useJob(jobId);
  useEffect(() => {
    if (job?.finishedAt) {
      history.reload();
      journal.reload();
    }
  }, [job?.finishedAt]);
  const p = plan.data;
  const points = history.data?.points ?? [];
  const lastRaw = [...points].reverse().find((x: any) => x.status === 'success' && x.kind === 'full')?.rawSizeBytes ?? null;
  return (
    <>
      <h1>Plan {p?.name ?? id}</h1>
      <ErrorBox error={plan.error} />
      {p ? (
        <p class="sub">
          {p.target} → {p.destinations.join(', ')} · {p.kind} · {p.compression ?? 'default compression'} · {p.cron ? `cron ${p.cron}` : 'not scheduled'}{' '}
          {p.enabled ? '' : '(disabled)'}
          {p.nextRuns[0] ? ` · next ${when(p.nextRuns[0])}` : ''}
        </p>
      ) : null}
      {can(session, 'operator') && p ? (
        <Section title="Back up now">
          <form
            class="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              setRunError(undefined);
              try {
                const options: any = {};
                if (kind) options.variant = kind;
                if (compression) options.compressionFormat = compression;
                const r = await api('POST', `/api/plans/${p.id}/execute`, { options });
                setJobId(r.jobId);
              } catch (err) {
                setRunError(err);
              }
            }}
          >
            <Field label="Kind" name="kind">
              {(fid) => (
                <select id={fid} value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
                  <option value="">plan default ({p.kind})</option>
                  <option value="full">full</option>
                  <option value="differential">differential</option>
                  <option value="incremental">incremental</option>
                </select>
              )}
            </Field>
            <Field label="Compression" name="compression">
              {(fid) => (
                <select id={fid} value={compression} onChange={(e) => setCompression(e.currentTarget.value)}>
                  {compressions.map((c) => (
                    <option value={c}>{c || `plan default (${p.compression ?? 'DEFAULT_COMPRESSION'})`}</option>
                  ))}
                </select>
              )}
            </Field>
            <button type="submit" disabled={!!job && !job.finishedAt}>
              Back up now
            </button>
          </form>
          <ErrorBox error={runError} />
          {jobId ? <Progress job={job} expectedBytes={lastRaw} /> : null}
        </Section>
      ) : null}
      <Section title="History">
        <ErrorBox error={history.error} />
        {points.length ? (
          <div class="charts">
            <RunChart title="Stored size" points={points.map((x: any) => ({ ...x, value: x.sizeBytes }))} format={bytes} />
            <RunChart title="Raw size" points={points.map((x: any) => ({ ...x, value: x.rawSizeBytes }))} format={bytes} />
            <RunChart title="Duration" points={points.map((x: any) => ({ ...x, value: x.durationMs }))} format={duration} />
          </div>
        ) : (
          <p>No runs yet.</p>
        )}
      </Section>
      <Section title="Latest runs" actions={<a href={`#/journal?plan=${encodeURIComponent(id)}`}>Whole journal</a>}>
        <ErrorBox error={journal.error} />
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Kind</th>
                <th scope="col">Stored</th>
                <th scope="col">Duration</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {journal.data?.items.map((r: any) => (
                <tr>
                  <td>
                    <a href={`#/runs/${r.id}`}>{when(r.startedAt)}</a>
                  </td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{r.kind}</td>
                  <td>{bytes(r.sizeBytes)}</td>
                  <td>{duration(r.durationMs)}</td>
                  <td class="row-actions">
                    {can(session, 'operator') && (r.status === 'success' || r.status === 'partial') ? (
                      <>
                        <button
                          type="button"
                          class="small"
                          onClick={async () => {
                            setVerify((v) => ({ ...v, [r.id]: { busy: true } }));
                            const res = await api('POST', `/api/journals/${r.id}/verify`).catch((err) => ({ ok: false, error: err }));
                            setVerify((v) => ({ ...v, [r.id]: res }));
                          }}
                        >
                          Verify
                        </button>
                        <a class="button small" href={`#/restore?backup=${r.id}`}>
                          Restore
                        </a>
                        {verify[r.id] ? (
                          <span class={verify[r.id].busy ? '' : verify[r.id].ok ? 'ok' : 'error'}>
                            {verify[r.id].busy ? 'verifying…' : verify[r.id].ok ? 'verified' : verify[r.id].error?.message}
                          </span>
                        ) : null}
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      {can(session, 'operator') && p ? (
        <Section title="Retention">
          <p>{p.retention ? `Policy: ${JSON.stringify(p.retention)}` : 'No retention policy: every backup is kept.'}</p>
          <div class="inline">
            <button
              type="button"
              onClick={async () => {
                setPruneError(undefined);
                try {
                  setPrune(await api('POST', `/api/plans/${p.id}/prune`, { dryRun: true }));
                } catch (err) {
                  setPruneError(err);
                }
              }}
            >
              Preview prune
            </button>
            {prune?.dryRun && prune.removed.length ? (
              <button
                type="button"
                class="danger"
                onClick={async () => {
                  try {
                    setPrune(await api('POST', `/api/plans/${p.id}/prune`, { dryRun: false }));
                    journal.reload();
                    history.reload();
                  } catch (err) {
                    setPruneError(err);
                  }
                }}
              >
                Delete {prune.removed.length} backups now
              </button>
            ) : null}
          </div>
          <ErrorBox error={pruneError} />
          {prune ? (
            <div class="prune">
              <p>
                {prune.dryRun ? 'Would delete' : 'Deleted'} {prune.removed.length}, keep {prune.kept.length}. {prune.rules}
              </p>
              <ul>
                {prune.removed.map((d: any) => (
                  <li>
                    {prune.dryRun ? 'would delete' : 'deleted'} {short(d.id)} ({d.kind}, {when(d.startedAt)}): {d.reasons.join('; ')}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
        </Section>
      ) : null}
    </>
  );
}
