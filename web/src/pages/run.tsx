import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, can, type Session } from '../api.ts';
import { bytes, duration, shortAmong, when } from '../format.ts';
import { BackupCells, ErrorBox, Field, Section, Status, useLoad } from '../ui.tsx';
import { Progress, useJob } from './plan.tsx';

export function RunPage({ id, session }: { id: string; session: Session }) {
  const run = useLoad(() => api('GET', `/api/journals/${encodeURIComponent(id)}`), [id]);
  const r = run.data;
  // A server run: its own entry, with its databases' rows beneath (each a backup of its own).
  if (r?.runPart === 'run') return <ServerRunPage run={r} session={session} />;
  const isBackup = r && 'copies' in r;
  return (
    <>
      <h1>Run {id.slice(0, 10)}</h1>
      <ErrorBox error={run.error} />
      {r ? (
        <>
          <Section
            title="Summary"
            actions={
              isBackup && can(session, 'operator') && (r.status === 'success' || r.status === 'partial') ? (
                <a class="button" href={`#/restore?backup=${r.id}`}>
                  Restore this backup
                </a>
              ) : null
            }
          >
            <dl class="details">
              <RunHead r={r} />
              <dt>Target</dt>
              <dd>
                {r.target} ({r.engine}, database {r.database})
              </dd>
              {isBackup ? (
                <>
                  <dt>Kind</dt>
                  <dd>
                    {r.kind}
                    {r.requestedKind !== r.kind ? ` (asked: ${r.requestedKind})` : ''}
                    {r.parentId ? (
                      <>
                        {' '}
                        on <a href={`#/runs/${r.parentId}`}>{r.parentId.slice(0, 10)}</a>
                      </>
                    ) : null}
                  </dd>
                  <dt>Compression</dt>
                  <dd>
                    {r.compression} ({r.rawFormat ?? 'format unknown'})
                  </dd>
                  <dt>Stored / raw</dt>
                  <dd>
                    {bytes(r.sizeBytes)} / {bytes(r.rawSizeBytes)}
                  </dd>
                  <dt>sha256</dt>
                  <dd>
                    <code class="hash">{r.sha256 ?? '—'}</code>
                  </dd>
                  <dt>Raw sha256</dt>
                  <dd>
                    <code class="hash">{r.rawSha256 ?? '—'}</code>
                  </dd>
                  <dt>Artifact</dt>
                  <dd>
                    <code>{r.artifact ?? '—'}</code>
                  </dd>
                  <dt>Tool</dt>
                  <dd>
                    {r.tool ?? '—'} {r.clientVersion ?? ''}
                  </dd>
                  <dt>Server version</dt>
                  <dd>{r.serverVersion ?? '—'}</dd>
                  <dt>Verified</dt>
                  <dd>{r.lastVerifiedAt ? `${r.lastVerifyStatus} at ${when(r.lastVerifiedAt)}${r.lastVerifyMessage ? `: ${r.lastVerifyMessage}` : ''}` : 'never'}</dd>
                </>
              ) : (
                <>
                  <dt>From</dt>
                  <dd>{r.backupId ? <a href={`#/runs/${r.backupId}`}>{r.backupId}</a> : r.source}</dd>
                  <dt>Replace</dt>
                  <dd>{r.replace ? 'yes' : 'no'}</dd>
                </>
              )}
              <dt>Trigger</dt>
              <dd>{r.trigger}</dd>
              <dt>Started</dt>
              <dd>{when(r.startedAt)}</dd>
              <dt>Finished</dt>
              <dd>
                {when(r.finishedAt)} ({duration(r.durationMs)})
              </dd>
              <dt>Message</dt>
              <dd>{r.message ?? '—'}</dd>
            </dl>
          </Section>
          {isBackup ? (
            <Section title="Copies">
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Destination</th>
                      <th scope="col">Type</th>
                      <th scope="col">Status</th>
                      <th scope="col">Size</th>
                      <th scope="col">Checksum</th>
                      <th scope="col">Key</th>
                      <th scope="col">Message</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.copies.map((c: any) => (
                      <tr>
                        <td>{c.destination}</td>
                        <td>{c.type ?? '—'}</td>
                        <td>
                          <Status value={c.status} />
                        </td>
                        <td>{bytes(c.sizeBytes)}</td>
                        <td>
                          <code class="hash">{c.checksum ?? '—'}</code>
                        </td>
                        <td>
                          <code>{c.key}</code>
                        </td>
                        <td>{c.message ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Section>
          ) : null}
          {isBackup ? (
            <Section title="Manifest">
              <p class="hint">The fields of the manifest stored beside the artifact, as the journal holds them.</p>
              <pre class="manifest">
                {JSON.stringify(
                  {
                    engine: r.engine,
                    database: r.database,
                    kind: r.kind,
                    parentId: r.parentId,
                    compression: r.compression,
                    rawFormat: r.rawFormat,
                    sizeBytes: r.sizeBytes,
                    rawSizeBytes: r.rawSizeBytes,
                    sha256: r.sha256,
                    rawSha256: r.rawSha256,
                    tool: r.tool,
                    clientVersion: r.clientVersion,
                    serverVersion: r.serverVersion,
                    startedAt: r.startedAt,
                    finishedAt: r.finishedAt,
                  },
                  null,
                  2,
                )}
              </pre>
            </Section>
          ) : null}
        </>
      ) : null}
    </>
  );
}

/** The first lines of a run's summary: its status, id and plan. */
function RunHead({ r }: { r: any }) {
  return (
    <>
      <dt>Status</dt>
      <dd>
        <Status value={r.status} />
      </dd>
      <dt>Id</dt>
      <dd>
        <code>{r.id}</code>
      </dd>
      <dt>Plan</dt>
      <dd>{r.plan ? <a href={`#/plans/${encodeURIComponent(r.plan)}`}>{r.plan}</a> : '—'}</dd>
    </>
  );
}

/** A server run: what it covered, each database's row, and restoring the whole run into a server target. */
function ServerRunPage({ run: r, session }: { run: any; session: Session }) {
  const list = (names: string[]) => (names.length ? names.join(', ') : 'none');
  return (
    <>
      <h1>Server run {r.id.slice(0, 10)}</h1>
      <Section title="Summary">
        <dl class="details">
          <RunHead r={r} />
          <dt>Server target</dt>
          <dd>
            {r.target} ({r.engine}, {r.database})
          </dd>
          <dt>Kind</dt>
          <dd>{r.kind}</dd>
          <dt>Stored / raw</dt>
          <dd>
            {bytes(r.sizeBytes)} / {bytes(r.rawSizeBytes)}
          </dd>
          <dt>New databases</dt>
          <dd>{list(r.newDatabases)}</dd>
          <dt>Vanished since the last run</dt>
          <dd>{list(r.vanished)}</dd>
          <dt>Failed</dt>
          <dd class={r.failedDatabases.length ? 'warn' : ''}>{list(r.failedDatabases)}</dd>
          <dt>Trigger</dt>
          <dd>{r.trigger}</dd>
          <dt>Started</dt>
          <dd>{when(r.startedAt)}</dd>
          <dt>Finished</dt>
          <dd>
            {when(r.finishedAt)} ({duration(r.durationMs)})
          </dd>
          <dt>Message</dt>
          <dd>{r.message ?? '—'}</dd>
        </dl>
      </Section>
      <Section title="Databases">
        <p class="hint">Each database is a backup of its own: open it for its copies, its manifest, or to restore that database alone.</p>
        <div class="table-wrap">
          <table class="parts">
            <thead>
              <tr>
                <th scope="col">Database</th>
                <th scope="col">Status</th>
                <th scope="col">Kind</th>
                <th scope="col">Stored</th>
                <th scope="col">Raw</th>
                <th scope="col">Duration</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {r.databases.map((d: any) => (
                <tr data-id={d.id}>
                  <td>
                    <a href={`#/runs/${d.id}`}>{d.runPart === 'globals' ? 'globals: roles and tablespaces' : d.database}</a>
                  </td>
                  <BackupCells r={d} />
                  <td>{d.status === 'success' ? '' : (d.message ?? '')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      {can(session, 'operator') && (r.status === 'success' || r.status === 'partial') ? <WholeRunRestore run={r} /> : null}
    </>
  );
}

/**
 * Restores every database of a server run into a server target of its engine. Where any of them holds data
 * there, the API refuses (409, naming them) and nothing is touched: the target's name typed again replaces them.
 */
function WholeRunRestore({ run }: { run: any }) {
  const targets = useLoad(() => api('GET', '/api/sgbd-targets'), []);
  const servers = targets.data?.filter((t: any) => t.server && t.engine === run.engine) ?? [];
  const [target, setTarget] = useState('');
  const [holding, setHolding] = useState<string[]>();
  const [confirm, setConfirm] = useState('');
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<unknown>();
  const job = useJob(jobId);
  useEffect(() => {
    setHolding(undefined);
    setConfirm('');
    setJobId(undefined);
    setError(undefined);
  }, [target]);
  const chosen = servers.find((t: any) => t.id === target);
  const replace = holding !== undefined;
  const restoredId = shortAmong((job?.result?.restores ?? []).map((x: any) => x.id));
  const submit = async () => {
    setError(undefined);
    try {
      const accepted = await api('POST', '/api/restores', { journalId: run.id, targetId: target, options: { replace } });
      setJobId(accepted.jobId);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'COFFRE_E_TARGET_NOT_EMPTY') setHolding((err.details.databases as string[] | undefined) ?? []);
      else setError(err);
    }
  };
  return (
    <Section title="Restore the whole run">
      <ErrorBox error={targets.error} />
      <Field label="Into the server target" name="server" hint={`only ${run.engine} server targets can take this run; each database goes into the database of the same name there`}>
        {(id, d) => (
          <select id={id} aria-describedby={d} value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
            <option value="">choose a server target…</option>
            {servers.map((t: any) => (
              <option value={t.id}>{t.name}</option>
            ))}
          </select>
        )}
      </Field>
      {replace ? (
        <>
          <p class="warn" role="alert">
            {chosen?.name} already holds data in {holding.join(', ')}: nothing was restored. Restoring replaces what they hold.
          </p>
          <Field label={`Type the target's name, ${chosen?.name}, to replace what those databases hold`} name="confirm">
            {(id) => <input id={id} autocomplete="off" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />}
          </Field>
        </>
      ) : null}
      <button type="button" class={replace ? 'danger' : ''} disabled={!target || (replace && confirm !== chosen?.name) || (!!job && !job.finishedAt)} onClick={submit}>
        {replace ? 'Replace and restore the run' : 'Restore the run'}
      </button>
      <ErrorBox error={error} />
      {/* one journal row per database: listed below instead of the job's last */}
      {jobId ? <Progress job={job} expectedBytes={run.rawSizeBytes} entry={false} /> : null}
      {job?.finishedAt && job.result?.restores ? (
        <ul class="restored">
          {job.result.restores.map((x: any) => (
            <li>
              {x.database}: <Status value={x.status} /> <a href={`#/runs/${x.id}`}>{restoredId(x.id)}</a>
              {x.status === 'success' ? '' : ` ${x.message ?? ''}`}
            </li>
          ))}
        </ul>
      ) : null}
    </Section>
  );
}
