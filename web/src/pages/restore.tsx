// The restore wizard: 1 a backup, 2 a target (or a new one), 3 the pre-flight, with the target's name typed
// again before a non-empty target is replaced, 4 progress and result.

import { useEffect, useState } from 'preact/hooks';
import { api, can, type Session } from '../api.ts';
import { bytes, shortAmong, when } from '../format.ts';
import { ErrorBox, Field, Section, useLoad } from '../ui.tsx';
import { Progress, useJob } from './plan.tsx';

export function RestoreWizard({ session, backupId }: { session: Session; backupId?: string }) {
  const backups = useLoad(() => api('GET', '/api/journals?limit=200'), []);
  const targets = useLoad(() => api('GET', '/api/sgbd-targets'), []);
  const [backup, setBackup] = useState(backupId ?? '');
  const [target, setTarget] = useState('');
  const [newName, setNewName] = useState('');
  const [newUrl, setNewUrl] = useState('');
  const [newErrors, setNewErrors] = useState<Record<string, string>>({});
  const [newError, setNewError] = useState<unknown>();
  const [pre, setPre] = useState<any>();
  const [preError, setPreError] = useState<unknown>();
  const [checking, setChecking] = useState(false);
  const [confirm, setConfirm] = useState('');
  const [jobId, setJobId] = useState<string>();
  const [runError, setRunError] = useState<unknown>();
  const job = useJob(jobId);
  useEffect(() => {
    setPre(undefined);
    setConfirm('');
    setJobId(undefined);
  }, [backup, target]);
  useEffect(() => {
    if (backupId) setBackup(backupId);
  }, [backupId]);
  if (!can(session, 'operator')) return <p>Restoring needs the operator role.</p>;
  // Successful backups; of a server run, each database's (a whole run restores from the run's own page).
  const choices: any[] = (backups.data?.items ?? [])
    .flatMap((b: any) => (b.runPart === 'run' ? (b.databases ?? []).filter((d: any) => d.runPart === 'database') : [b]))
    .filter((b: any) => b.status === 'success');
  const chosen = choices.find((b: any) => b.id === backup);
  const choiceId = shortAmong(choices.map((b: any) => b.id));
  const compatible = targets.data?.filter((t: any) => !chosen || t.engine === chosen.engine) ?? [];
  const needsName = pre?.needsReplace === true;
  const confirmed = !needsName || confirm === pre?.target.name;
  return (
    <>
      <h1>Restore</h1>
      <Section title="1. Backup">
        <ErrorBox error={backups.error} />
        <Field label="Backup to restore" name="backup">
          {(id) => (
            <select id={id} value={backup} onChange={(e) => setBackup(e.currentTarget.value)}>
              <option value="">choose a backup…</option>
              {backupId && !choices.some((b: any) => b.id === backupId) ? <option value={backupId}>{backupId}</option> : null}
              {choices.map((b: any) => (
                <option value={b.id}>
                  {b.plan}
                  {b.runId ? ` · ${b.database}` : ''} · {when(b.startedAt)} · {b.kind} · {bytes(b.sizeBytes)} · {choiceId(b.id)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </Section>
      <Section title="2. Target">
        <Field label="Restore into" name="target" hint={chosen ? `only ${chosen.engine} targets can take this backup` : undefined}>
          {(id, d) => (
            <select id={id} aria-describedby={d} value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="">choose a target…</option>
              {compatible.map((t: any) => (
                <option value={t.id}>
                  {t.name} ({t.engine})
                </option>
              ))}
            </select>
          )}
        </Field>
        {can(session, 'admin') ? (
          <details class="new-target">
            <summary>Or create a new target</summary>
            <form
              class="inline"
              onSubmit={async (e) => {
                e.preventDefault();
                setNewErrors({});
                setNewError(undefined);
                try {
                  const t = await api('POST', '/api/sgbd-targets', { name: newName, url: newUrl });
                  targets.reload();
                  setTarget(t.id);
                  setNewName('');
                  setNewUrl('');
                } catch (err: any) {
                  setNewErrors(err.fields ?? {});
                  setNewError(err);
                }
              }}
            >
              <Field label="New target name" name="name" errors={newErrors}>
                {(id) => <input id={id} value={newName} onInput={(e) => setNewName(e.currentTarget.value)} />}
              </Field>
              <Field label="New target URL" name="url" errors={newErrors} hint="e.g. sqlite:/var/lib/app/copy.db">
                {(id, d) => <input id={id} aria-describedby={d} value={newUrl} onInput={(e) => setNewUrl(e.currentTarget.value)} />}
              </Field>
              <button type="submit">Create target</button>
            </form>
            <ErrorBox error={newError} />
          </details>
        ) : null}
      </Section>
      <Section title="3. Pre-flight">
        <button
          type="button"
          disabled={!backup || !target || checking}
          onClick={async () => {
            setPreError(undefined);
            setChecking(true);
            try {
              setPre(await api('POST', '/api/restores/preflight', { journalId: backup, targetId: target }));
            } catch (err) {
              setPreError(err);
            } finally {
              setChecking(false);
            }
          }}
        >
          {checking ? 'Checking…' : 'Check'}
        </button>
        <ErrorBox error={preError} />
        {pre ? (
          <div class="preflight" data-ok={String(pre.ok)}>
            <dl class="details">
              <dt>Backup</dt>
              <dd>
                {pre.backup.plan} · {pre.backup.engine} {pre.backup.rawFormat ?? ''} · {pre.backup.kind} ({pre.backup.chain.length} link{pre.backup.chain.length > 1 ? 's' : ''}) ·{' '}
                {pre.backup.compression} · {bytes(pre.backup.sizeBytes)}
              </dd>
              <dt>Dumped from</dt>
              <dd>
                {pre.backup.tool ?? '—'} · server {pre.backup.serverVersion ?? '—'}
              </dd>
              <dt>Target</dt>
              <dd>
                {pre.target.name} ({pre.target.engine}, {pre.target.database}) ·{' '}
                {pre.target.reachable ? `reachable${pre.target.serverVersion ? `, server ${pre.target.serverVersion}` : ''}` : 'unreachable'}
              </dd>
              <dt>Target state</dt>
              <dd class={pre.needsReplace ? 'warn' : ''}>
                {pre.target.exists === null
                  ? 'unknown'
                  : !pre.target.exists
                    ? 'does not exist yet (it will be created)'
                    : pre.target.empty
                      ? 'exists, empty'
                      : 'holds data: it will be replaced'}
              </dd>
            </dl>
            {pre.problems.length ? (
              <ul class="error" role="alert">
                {pre.problems.map((p: string) => (
                  <li>{p}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
      </Section>
      <Section title="4. Restore">
        {needsName ? (
          <Field label={`Type the target's name, ${pre.target.name}, to replace what it holds`} name="confirm">
            {(id) => <input id={id} name="confirm" autocomplete="off" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />}
          </Field>
        ) : null}
        <button
          type="button"
          class={needsName ? 'danger' : ''}
          disabled={!pre?.ok || !confirmed || (!!job && !job.finishedAt)}
          onClick={async () => {
            setRunError(undefined);
            try {
              const r = await api('POST', '/api/restores', { journalId: backup, targetId: target, options: { replace: needsName && confirmed } });
              setJobId(r.jobId);
            } catch (err) {
              setRunError(err);
            }
          }}
        >
          {needsName ? 'Replace and restore' : 'Restore'}
        </button>
        <ErrorBox error={runError} />
        {jobId ? <Progress job={job} expectedBytes={chosen?.rawSizeBytes ?? pre?.backup.rawSizeBytes} /> : null}
        {job?.finishedAt && job.status === 'success' ? <p class="ok">Restored into {pre?.target.name}.</p> : null}
      </Section>
    </>
  );
}
