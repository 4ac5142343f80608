import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { duration, short, shortAmong, when } from '../format.ts';
import { BackupCells, ErrorBox, Field, Status, useLoad } from '../ui.tsx';

const PAGE = 50;

type Tab = 'backups' | 'restores' | 'drills';
const SOURCES: Record<Tab, string> = { backups: '/api/journals', restores: '/api/restores', drills: '/api/drills' };

/** A drill's checks in one cell: each check's name, marked by its status, its message as the tooltip. */
function Checks({ checks }: { checks: Array<{ name: string; status: string; message: string }> }) {
  if (checks.length === 0) return <>—</>;
  return (
    <ul class="checks">
      {checks.map((c) => (
        <li class={`check-${c.status}`} title={c.message}>
          {c.status === 'passed' ? '✓' : c.status === 'failed' ? '✗' : '–'} {c.name}
        </li>
      ))}
    </ul>
  );
}

/** One database (or the globals) of a server run, beneath the run's own row. */
function PartRow({ part, id }: { part: any; id: (id: string) => string }) {
  return (
    <tr data-id={part.id} class="run-part">
      <td>
        <a href={`#/runs/${part.id}`} aria-label={`${part.database}, started ${when(part.startedAt)}`}>
          ↳ {part.database}
        </a>
      </td>
      <td class="hint">{part.runPart === 'globals' ? 'roles and tablespaces' : 'database'}</td>
      <BackupCells r={part} />
      <td>
        <code>{id(part.id)}</code>
      </td>
    </tr>
  );
}

/** RTO measured, against the plan's objective when it has one. */
function rto(ms: number | null, objectiveSeconds: number | null): string {
  if (ms === null) return '—';
  return objectiveSeconds === null ? duration(ms) : `${duration(ms)} of ${duration(objectiveSeconds * 1000)}`;
}

export function Journal({ params }: { params: URLSearchParams }) {
  const initial = params.get('tab');
  const [tab, setTab] = useState<Tab>(initial === 'restores' || initial === 'drills' ? initial : 'backups');
  const [plan, setPlan] = useState(params.get('plan') ?? '');
  const [status, setStatus] = useState('');
  const [kind, setKind] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [offset, setOffset] = useState(0);
  const plans = useLoad(() => api('GET', '/api/plans'), []);
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (tab !== 'restores') {
    if (plan) q.set('planId', plan);
    if (status) q.set('status', status);
  }
  if (tab === 'backups') {
    if (kind) q.set('kind', kind);
    if (from) q.set('from', new Date(from).toISOString());
    if (to) q.set('to', new Date(`${to}T23:59:59.999`).toISOString());
  }
  const url = `${SOURCES[tab]}?${q}`;
  // Rows are shown only by the table they were loaded for: while another tab's rows load, the old ones go.
  const loaded = useLoad(() => api<any>('GET', url).then((d) => ({ ...d, url })), [url]);
  const page = { ...loaded, data: loaded.data?.url === url ? loaded.data : undefined };
  // The backups tab's ids, each as long as it must be to tell it from the others shown (a server run's rows).
  const shownId = shortAmong((page.data?.items ?? []).flatMap((r: any) => [r.id, ...(r.databases ?? []).map((d: any) => d.id)]));
  const set = (f: (v: string) => void) => (e: Event) => {
    f((e.currentTarget as HTMLInputElement).value);
    setOffset(0);
  };
  return (
    <>
      <h1>Journal</h1>
      <div class="tabs" role="tablist">
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'backups'}
          onClick={() => {
            setTab('backups');
            setOffset(0);
          }}
        >
          Backups
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'restores'}
          onClick={() => {
            setTab('restores');
            setOffset(0);
          }}
        >
          Restores
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={tab === 'drills'}
          onClick={() => {
            setTab('drills');
            setOffset(0);
          }}
        >
          Drills
        </button>
      </div>
      {tab !== 'restores' ? (
        <form class="filters inline" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
          <Field label="Plan" name="plan">
            {(id) => (
              <select id={id} value={plan} onChange={set(setPlan)}>
                <option value="">all plans</option>
                {plans.data?.map((p: any) => (
                  <option value={p.id}>{p.name}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Status" name="status">
            {(id) => (
              <select id={id} value={status} onChange={set(setStatus)}>
                <option value="">any</option>
                {['success', 'partial', 'failed', 'interrupted', 'running', 'skipped'].map((s) => (
                  <option value={s}>{s}</option>
                ))}
              </select>
            )}
          </Field>
          {tab === 'backups' ? (
            <>
              <Field label="Kind" name="kind">
                {(id) => (
                  <select id={id} value={kind} onChange={set(setKind)}>
                    <option value="">any</option>
                    {['full', 'differential', 'incremental'].map((s) => (
                      <option value={s}>{s}</option>
                    ))}
                  </select>
                )}
              </Field>
              <Field label="From" name="from">
                {(id) => <input id={id} type="date" value={from} onChange={set(setFrom)} />}
              </Field>
              <Field label="To" name="to">
                {(id) => <input id={id} type="date" value={to} onChange={set(setTo)} />}
              </Field>
            </>
          ) : null}
        </form>
      ) : null}
      <ErrorBox error={page.error} />
      <div class="table-wrap">
        {tab === 'backups' ? (
          <table class="journal">
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">Kind</th>
                <th scope="col">Stored</th>
                <th scope="col">Raw</th>
                <th scope="col">Duration</th>
                <th scope="col">Id</th>
              </tr>
            </thead>
            <tbody>
              {page.data?.items.map((r: any) => (
                <>
                  <tr data-id={r.id} class={r.runPart === 'run' ? 'server-run' : undefined}>
                    <td>
                      <a href={`#/runs/${r.id}`}>{when(r.startedAt)}</a>
                    </td>
                    <td>
                      {r.plan}
                      {r.runPart === 'run' ? <span class="hint"> · {r.database}</span> : null}
                    </td>
                    <BackupCells r={r} />
                    <td>
                      <code>{shownId(r.id)}</code>
                    </td>
                  </tr>
                  {r.runPart === 'run' ? r.databases.map((d: any) => <PartRow part={d} id={shownId} />) : null}
                </>
              ))}
            </tbody>
          </table>
        ) : tab === 'drills' ? (
          <table class="journal">
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">From backup</th>
                <th scope="col">Checks</th>
                <th scope="col">RTO</th>
                <th scope="col">Scratch</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {page.data?.items.map((r: any) => (
                <tr data-id={r.id}>
                  <td>{when(r.startedAt)}</td>
                  <td>{r.plan}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{r.backupId ? <a href={`#/runs/${r.backupId}`}>{short(r.backupId)}</a> : '—'}</td>
                  <td>
                    <Checks checks={r.checks ?? []} />
                  </td>
                  <td>{rto(r.rtoMs, r.rtoObjectiveSeconds)}</td>
                  <td>
                    <code title={r.scratch}>{r.scratch.split(/[\\/]/).pop()}</code> {r.scratchCreated ? (r.scratchDropped ? 'dropped' : 'NOT dropped') : 'not made'}
                  </td>
                  <td>{r.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <table class="journal">
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Target</th>
                <th scope="col">Status</th>
                <th scope="col">From backup</th>
                <th scope="col">Replace</th>
                <th scope="col">Duration</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {page.data?.items.map((r: any) => (
                <tr data-id={r.id}>
                  <td>{when(r.startedAt)}</td>
                  <td>{r.target}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{r.backupId ? <a href={`#/runs/${r.backupId}`}>{short(r.backupId)}</a> : (r.source ?? '—')}</td>
                  <td>{r.replace ? 'yes' : 'no'}</td>
                  <td>{duration(r.durationMs)}</td>
                  <td>{r.message ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {page.data && page.data.items.length === 0 ? <p>No rows.</p> : null}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Newer
        </button>
        <span>
          rows {page.data?.items.length ? offset + 1 : 0}–{offset + (page.data?.items.length ?? 0)}
        </span>
        <button type="button" disabled={!page.data?.nextOffset} onClick={() => setOffset(page.data.nextOffset)}>
          Older
        </button>
      </nav>
    </>
  );
}
