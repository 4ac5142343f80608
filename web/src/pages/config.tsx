// Targets, destinations and plans: list, create, edit, test, remove. Each form shows the API's validation
// message beside the field it names. Secrets are write-only: the API never returns them, so their inputs
// start empty and are sent only when typed (on an edit, empty means "unchanged").

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, can, type Session } from '../api.ts';
import { ErrorBox, Field, Section, useLoad } from '../ui.tsx';

type Values = Record<string, string | boolean>;
interface FieldSpec {
  name: string;
  label: string;
  type?: 'text' | 'password' | 'checkbox' | 'select' | 'textarea' | 'multiselect';
  options?: [string, string][];
  hint?: string;
  secret?: boolean;
  required?: boolean;
}

function Form(props: {
  fields: FieldSpec[];
  initial?: Values;
  submit: string;
  onSubmit: (v: Values) => Promise<void>;
  onCancel?: () => void;
  label: string;
  onValues?: (v: Values) => void;
}) {
  const [values, setValues] = useState<Values>(props.initial ?? {});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const set = (name: string, v: string | boolean) =>
    setValues((x) => {
      const next = { ...x, [name]: v };
      props.onValues?.(next);
      return next;
    });
  return (
    <form
      class="form"
      aria-label={props.label}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setErrors({});
        setError(undefined);
        try {
          await props.onSubmit(values);
        } catch (err: any) {
          setErrors(err.fields ?? {});
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.fields.map((f) => (
        <Field label={f.label} name={f.name} errors={errors} hint={f.hint}>
          {(id, d): JSX.Element => {
            const v = values[f.name];
            if (f.type === 'checkbox') return <input id={id} type="checkbox" checked={v === true} onChange={(e) => set(f.name, e.currentTarget.checked)} aria-describedby={d} />;
            if (f.type === 'select')
              return (
                <select id={id} value={String(v ?? '')} onChange={(e) => set(f.name, e.currentTarget.value)} aria-describedby={d}>
                  {f.options!.map(([val, label]) => (
                    <option value={val}>{label}</option>
                  ))}
                </select>
              );
            if (f.type === 'multiselect')
              return (
                <select
                  id={id}
                  multiple
                  size={Math.min(4, Math.max(2, f.options!.length))}
                  aria-describedby={d}
                  onChange={(e) => set(f.name, [...e.currentTarget.selectedOptions].map((o) => o.value).join('\n'))}
                >
                  {f.options!.map(([val, label]) => (
                    <option
                      value={val}
                      selected={String(v ?? '')
                        .split('\n')
                        .includes(val)}
                    >
                      {label}
                    </option>
                  ))}
                </select>
              );
            if (f.type === 'textarea')
              return <textarea id={id} rows={3} value={String(v ?? '')} onInput={(e) => set(f.name, e.currentTarget.value)} aria-describedby={d} autocomplete="off" />;
            return (
              <input
                id={id}
                name={f.name}
                type={(f.type ?? 'text') as 'text'}
                value={String(v ?? '')}
                onInput={(e) => set(f.name, e.currentTarget.value)}
                aria-describedby={d}
                autocomplete={f.secret ? 'new-password' : 'off'}
                required={f.required}
              />
            );
          }}
        </Field>
      ))}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {props.submit}
        </button>
        {props.onCancel ? (
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

function Outcome({ result }: { result: any }) {
  if (!result) return null;
  if (result.ok) return <span class="ok">ok{result.serverVersion ? ` (server ${result.serverVersion}, ${result.tool})` : ''}</span>;
  return <span class="error">{result.error?.message ?? result.message}</span>;
}

function Crud(props: {
  title: string;
  list: string;
  session: Session;
  columns: [string, (r: any) => JSX.Element | string][];
  createFields: (rows: any[]) => FieldSpec[];
  editFields: (row: any) => FieldSpec[];
  toBody: (v: Values, editing?: any) => Record<string, unknown>;
  initialEdit: (row: any) => Values;
  initialCreate?: Values;
  test?: (row: any) => string;
  singular: string;
  /** Sees the create form's values as they change (fields that depend on another field). */
  onCreateValues?: (v: Values) => void;
}) {
  const rows = useLoad(() => api('GET', props.list), [props.list]);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<any>();
  const [tests, setTests] = useState<Record<string, any>>({});
  const [removeError, setRemoveError] = useState<unknown>();
  const admin = can(props.session, 'admin');
  return (
    <>
      <h1>{props.title}</h1>
      {admin && !creating ? (
        <button
          type="button"
          onClick={() => {
            setCreating(true);
            setEditing(undefined);
          }}
        >
          Add {props.singular}
        </button>
      ) : null}
      {creating ? (
        <Section title={`New ${props.singular}`}>
          <Form
            label={`New ${props.singular}`}
            fields={props.createFields(rows.data ?? [])}
            initial={props.initialCreate}
            submit={`Create ${props.singular}`}
            onValues={props.onCreateValues}
            onCancel={() => setCreating(false)}
            onSubmit={async (v) => {
              await api('POST', props.list, props.toBody(v));
              setCreating(false);
              rows.reload();
            }}
          />
        </Section>
      ) : null}
      {editing ? (
        <Section title={`Edit ${editing.name}`}>
          <Form
            key={editing.id}
            label={`Edit ${props.singular} ${editing.name}`}
            fields={props.editFields(editing)}
            initial={props.initialEdit(editing)}
            submit="Save"
            onCancel={() => setEditing(undefined)}
            onSubmit={async (v) => {
              await api('PATCH', `${props.list}/${editing.id}`, props.toBody(v, editing));
              setEditing(undefined);
              rows.reload();
            }}
          />
        </Section>
      ) : null}
      <ErrorBox error={rows.error ?? removeError} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              {props.columns.map(([h]) => (
                <th scope="col">{h}</th>
              ))}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.data?.map((r: any) => (
              <tr data-name={r.name}>
                {props.columns.map(([, f]) => (
                  <td>{f(r)}</td>
                ))}
                <td class="row-actions">
                  {props.test && can(props.session, 'operator') ? (
                    <button
                      type="button"
                      class="small"
                      onClick={async () => {
                        setTests((t) => ({ ...t, [r.id]: { ok: false, message: 'testing…' } }));
                        const res = await api('POST', props.test!(r)).catch((e) => ({ ok: false, error: e }));
                        setTests((t) => ({ ...t, [r.id]: res }));
                      }}
                    >
                      Test<span class="sr-only"> {r.name}</span>
                    </button>
                  ) : null}
                  {admin ? (
                    <>
                      <button
                        type="button"
                        class="small"
                        onClick={() => {
                          setEditing(r);
                          setCreating(false);
                        }}
                      >
                        Edit<span class="sr-only"> {r.name}</span>
                      </button>
                      <button
                        type="button"
                        class="small danger"
                        onClick={async () => {
                          if (!confirm(`Remove ${props.singular} "${r.name}"?`)) return;
                          setRemoveError(undefined);
                          try {
                            await api('DELETE', `${props.list}/${r.id}`);
                            rows.reload();
                          } catch (err) {
                            setRemoveError(err);
                          }
                        }}
                      >
                        Remove<span class="sr-only"> {r.name}</span>
                      </button>
                    </>
                  ) : null}
                  <Outcome result={tests[r.id]} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.data?.length === 0 ? <p>None yet.</p> : null}
    </>
  );
}

const when = (iso: string) => new Date(iso).toLocaleDateString();

export function Targets({ session }: { session: Session }) {
  const fields = (edit: boolean): FieldSpec[] => [
    { name: 'name', label: 'Name', required: !edit },
    {
      name: 'url',
      label: 'Connection URL',
      type: 'password',
      secret: true,
      required: !edit,
      hint: edit ? 'write-only: leave empty to keep the current one' : 'postgres://user:pass@host:5432/db, mysql://…, mongodb://…, sqlite:/absolute/path.db',
    },
  ];
  return (
    <Crud
      title="Targets"
      singular="target"
      list="/api/sgbd-targets"
      session={session}
      columns={[
        ['Name', (r) => r.name],
        ['Engine', (r) => r.engine],
        ['URL (password masked)', (r) => <code>{r.url}</code>],
        ['Added', (r) => when(r.createdAt)],
      ]}
      createFields={() => fields(false)}
      editFields={() => fields(true)}
      initialEdit={(r) => ({ name: r.name })}
      toBody={(v, editing) => {
        const b: Record<string, unknown> = {};
        if (!editing || v.name !== editing.name) b.name = v.name;
        if (v.url) b.url = v.url;
        return b;
      }}
      test={(r) => `/api/sgbd-targets/${r.id}/test`}
    />
  );
}

const destinationFields: Record<string, FieldSpec[]> = {
  local: [{ name: 'path', label: 'Folder', hint: 'absolute path; empty: BACKUP_ROOT' }],
  s3: [
    { name: 'bucket', label: 'Bucket' },
    { name: 'region', label: 'Region' },
    { name: 'endpoint', label: 'Endpoint (S3-compatible stores)' },
    { name: 'prefix', label: 'Key prefix' },
    { name: 'accessKeyId', label: 'Access key id', type: 'password', secret: true },
    { name: 'secretAccessKey', label: 'Secret access key', type: 'password', secret: true },
    { name: 'forcePathStyle', label: 'Path-style URLs', type: 'checkbox' },
    { name: 'allowHttp', label: 'Allow plain http', type: 'checkbox' },
  ],
  gcs: [
    { name: 'bucket', label: 'Bucket' },
    { name: 'prefix', label: 'Key prefix' },
    { name: 'credentials', label: 'Service account key (JSON)', type: 'textarea', secret: true },
  ],
  azure: [
    { name: 'container', label: 'Container' },
    { name: 'prefix', label: 'Key prefix' },
    { name: 'connectionString', label: 'Connection string', type: 'password', secret: true },
  ],
};

export function Destinations({ session }: { session: Session }) {
  const [type, setType] = useState('local');
  const typeField: FieldSpec = { name: 'type', label: 'Type', type: 'select', options: ['local', 's3', 'gcs', 'azure'].map((t) => [t, t]) };
  const toBody = (v: Values, editing?: any) => {
    const b: Record<string, unknown> = {};
    const t = editing?.type ?? String(v.type ?? 'local');
    if (!editing) b.type = t;
    if (!editing || v.name !== editing.name) b.name = v.name;
    for (const f of destinationFields[t] ?? []) {
      const x = v[f.name];
      if (f.type === 'checkbox') {
        if (x !== undefined && (!editing || x !== (editing.config[f.name] === true))) b[f.name] = x;
      } else if (typeof x === 'string' && x !== '' && (f.secret || !editing || x !== String(editing.config[f.name] ?? ''))) b[f.name] = x;
    }
    return b;
  };
  return (
    <>
      <p class="hint">Credentials are write-only: the API never sends them back.</p>
      <Crud
        title="Destinations"
        singular="destination"
        list="/api/destinations"
        session={session}
        columns={[
          ['Name', (r) => r.name],
          ['Type', (r) => r.type],
          [
            'Settings',
            (r) => (
              <code>
                {Object.entries(r.config)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}
              </code>
            ),
          ],
        ]}
        initialCreate={{ type: 'local' }}
        createFields={() => [{ name: 'name', label: 'Name', required: true }, { ...typeField, hint: 'the fields below follow the type' }, ...(destinationFields[type] ?? [])]}
        editFields={(r) => [
          { name: 'name', label: 'Name' },
          ...(destinationFields[r.type] ?? []).map((f) => (f.secret ? { ...f, hint: 'write-only: leave empty to keep it' } : f)),
        ]}
        initialEdit={(r) => {
          const v: Values = { name: r.name };
          for (const f of destinationFields[r.type] ?? [])
            if (!f.secret && r.config[f.name] !== undefined) v[f.name] = f.type === 'checkbox' ? r.config[f.name] === true : String(r.config[f.name]);
          return v;
        }}
        onCreateValues={(v) => setType(String(v.type ?? 'local'))}
        toBody={toBody}
        test={(r) => `/api/destinations/${r.id}/test`}
      />
    </>
  );
}

export function Plans({ session }: { session: Session }) {
  const targets = useLoad(() => api('GET', '/api/sgbd-targets'), []);
  const destinations = useLoad(() => api('GET', '/api/destinations'), []);
  const fields = (edit: boolean): FieldSpec[] => [
    { name: 'name', label: 'Name', required: !edit },
    {
      name: 'targetId',
      label: 'Target',
      type: 'select',
      options: [['', 'choose…'], ...((targets.data ?? []).map((t: any) => [t.id, `${t.name} (${t.engine})`]) as [string, string][])],
    },
    {
      name: 'destinationIds',
      label: 'Destinations',
      type: 'multiselect',
      options: (destinations.data ?? []).map((d: any) => [d.id, `${d.name} (${d.type})`]),
      hint: 'one or more',
    },
    {
      name: 'kind',
      label: 'Kind',
      type: 'select',
      options: [
        ['full', 'full'],
        ['differential', 'differential'],
        ['incremental', 'incremental'],
      ],
    },
    {
      name: 'compression',
      label: 'Compression',
      type: 'select',
      options: [
        ['', 'default (DEFAULT_COMPRESSION)'],
        ['gzip', 'gzip'],
        ['zstd', 'zstd'],
        ['zip', 'zip'],
        ['targz', 'targz'],
        ['none', 'none'],
      ],
    },
    { name: 'cron', label: 'Schedule (cron)', hint: 'e.g. 0 3 * * *; empty: manual only' },
    { name: 'keepLast', label: 'Keep last N backups', hint: 'empty: keep all' },
    ...(edit ? [{ name: 'enabled', label: 'Enabled', type: 'checkbox' as const }] : []),
  ];
  const toBody = (v: Values, editing?: any) => {
    const b: Record<string, unknown> = {};
    if (!editing || v.name !== editing.name) b.name = v.name;
    if (v.targetId) b.targetId = v.targetId;
    const ds = String(v.destinationIds ?? '')
      .split('\n')
      .filter(Boolean);
    if (ds.length) b.destinationIds = ds;
    else if (!editing) b.destinationId = '';
    if (v.kind) b.kind = v.kind;
    b.compression = v.compression ? v.compression : null;
    b.cron = v.cron ? v.cron : null;
    if (v.keepLast !== undefined && v.keepLast !== '') b.retention = { keepLast: Number(v.keepLast) };
    else if (editing?.retention?.keepLast !== undefined) b.retention = null;
    if (editing && v.enabled !== undefined) b.enabled = v.enabled;
    return b;
  };
  return (
    <Crud
      title="Plans"
      singular="plan"
      list="/api/plans"
      session={session}
      columns={[
        ['Name', (r) => <a href={`#/plans/${r.id}`}>{r.name}</a>],
        ['Target', (r) => r.target],
        ['Destinations', (r) => r.destinations.join(', ')],
        ['Kind', (r) => r.kind],
        ['Schedule', (r) => (r.cron ? `${r.cron}${r.enabled ? '' : ' (disabled)'}` : 'manual')],
      ]}
      initialCreate={{ kind: 'full' }}
      createFields={() => fields(false)}
      editFields={() => fields(true)}
      initialEdit={(r) => ({
        name: r.name,
        targetId: r.targetId,
        destinationIds: r.destinationIds.join('\n'),
        kind: r.kind,
        compression: r.compression ?? '',
        cron: r.cron ?? '',
        keepLast: r.retention?.keepLast !== undefined ? String(r.retention.keepLast) : '',
        enabled: r.enabled,
      })}
      toBody={toBody}
    />
  );
}
