import { api, can, type Session } from '../api.ts';
import { bytes, duration, when } from '../format.ts';
import { ErrorBox, Section, Status, useLoad } from '../ui.tsx';

export function RunPage({ id, session }: { id: string; session: Session }) {
  const run = useLoad(() => api('GET', `/api/journals/${encodeURIComponent(id)}`), [id]);
  const r = run.data;
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
