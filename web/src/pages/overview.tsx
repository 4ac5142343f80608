import { useEffect } from 'preact/hooks';
import { api, onEvents, type Session } from '../api.ts';
import { age, ago, bytes } from '../format.ts';
import { ErrorBox, Sparkline, useLoad } from '../ui.tsx';

const healthText: Record<string, string> = { ok: 'OK', failing: 'Failing', stale: 'Stale', never: 'Never succeeded' };

export function Overview(_props: { session: Session }) {
  const { data, error, reload } = useLoad(() => api('GET', '/api/overview'), []);
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const off = onEvents((type) => {
      if (type === 'job.started' || type === 'job.finished') {
        clearTimeout(t);
        t = setTimeout(reload, 250);
      }
    });
    const every = setInterval(reload, 30_000);
    return () => {
      off();
      clearInterval(every);
      clearTimeout(t);
    };
  }, []);
  const totals = data?.totals;
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={error} />
      {totals ? (
        <ul class="totals" aria-label="Totals">
          <li>
            <strong>{totals.plans}</strong> plans
          </li>
          <li class="t-failing">
            <strong>{totals.failing}</strong> failing
          </li>
          <li class="t-stale">
            <strong>{totals.stale}</strong> stale
          </li>
          <li class="t-never">
            <strong>{totals.never}</strong> never
          </li>
          <li class="t-ok">
            <strong>{totals.ok}</strong> ok
          </li>
          <li>
            <strong>{totals.running}</strong> running
          </li>
          <li>
            <strong>{bytes(totals.lastStoredBytes)}</strong> in latest backups
          </li>
        </ul>
      ) : null}
      {data && data.plans.length === 0 ? (
        <p>
          No plans yet: add a <a href="#/targets">target</a>, a <a href="#/destinations">destination</a> and a <a href="#/plans">plan</a>.
        </p>
      ) : null}
      <ul class="tiles" aria-label="Plans">
        {data?.plans.map((t: any) => (
          <li class={`tile h-${t.health}`} data-plan={t.plan.name} data-health={t.health}>
            <a href={`#/plans/${encodeURIComponent(t.plan.id)}`} class="tile-link">
              <div class="tile-head">
                <span class="tile-name">{t.plan.name}</span>
                <span class={`health h-${t.health}`}>{healthText[t.health]}</span>
              </div>
              <div class="tile-sub">
                {t.plan.target} · {t.plan.kind}
                {t.running ? <span class="badge s-running"> running</span> : null}
              </div>
              <dl class="facts">
                <dt>Last success</dt>
                <dd>
                  {t.lastSuccess ? `${age(t.lastSuccessAgeSeconds)} ago` : 'never'}
                  {t.rpoSeconds ? ` / RPO ${age(t.rpoSeconds)}` : ''}
                </dd>
                <dt>Next run</dt>
                <dd>{t.nextRun ? ago(t.nextRun) : 'not scheduled'}</dd>
                <dt>Last size</dt>
                <dd>{bytes(t.lastSuccess?.sizeBytes)}</dd>
              </dl>
              <p class="reason">{t.reason}</p>
              <Sparkline
                values={t.recent.map((r: any) => r.sizeBytes)}
                failed={t.recent.map((r: any) => r.status !== 'success' && r.status !== 'partial' && r.status !== 'running')}
                label={`stored size of the last ${t.recent.length} runs`}
              />
            </a>
          </li>
        ))}
      </ul>
    </>
  );
}
