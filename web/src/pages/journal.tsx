import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { bytes, duration, short, when } from '../format.ts';
import { ErrorBox, Field, Status, useLoad } from '../ui.tsx';

const PAGE = 50;

export function Journal({ params }: { params: URLSearchParams }) {
  const [tab, setTab] = useState<'backups' | 'restores'>(params.get('tab') === 'restores' ? 'restores' : 'backups');
  const [plan, setPlan] = useState(params.get('plan') ?? '');
  const [status, setStatus] = useState('');
  const [kind, setKind] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [offset, setOffset] = useState(0);
  const plans = useLoad(() => api('GET', '/api/plans'), []);
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (tab === 'backups') {
    if (plan) q.set('planId', plan);
    if (status) q.set('status', status);
    if (kind) q.set('kind', kind);
    if (from) q.set('from', new Date(from).toISOString());
    if (to) q.set('to', new Date(`${to}T23:59:59.999`).toISOString());
  }
  const url = `${tab === 'backups' ? '/api/journals' : '/api/restores'}?${q}`;
  const page = useLoad(() => api('GET', url), [url]);
  const set = (f: (v: string) => void) => (e: Event) => {
    f((e.currentTarget as HTMLInputElement).value);
    setOffset(0);
  };
  return (
    <>
      <h1>Journal</h1>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'backups'} onClick={() => (setTab('backups'), setOffset(0))}>
          Backups
        </button>
        <button type="button" role="tab" aria-selected={tab === 'restores'} onClick={() => (setTab('restores'), setOffset(0))}>
          Restores
        </button>
      </div>
      {tab === 'backups' ? (
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
                <tr data-id={r.id}>
                  <td>
                    <a href={`#/runs/${r.id}`}>{when(r.startedAt)}</a>
                  </td>
                  <td>{r.plan}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{r.kind}</td>
                  <td>{bytes(r.sizeBytes)}</td>
                  <td>{bytes(r.rawSizeBytes)}</td>
                  <td>{duration(r.durationMs)}</td>
                  <td>
                    <code>{short(r.id)}</code>
                  </td>
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
