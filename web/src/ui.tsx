// Small shared pieces: labelled fields that show the API's message for their field, status badges, a backup's
// cells in a table, a
// sparkline (an SVG polyline: too small to need a chart library), and a hook that loads from the API.

import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ApiError } from './api.ts';
import { bytes, duration } from './format.ts';

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: ApiError | Error | undefined; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError | Error>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as ApiError;
  return (
    <p class="error" role="alert">
      {e.message}
      {e.code ? <code class="code">{e.code}</code> : null}
    </p>
  );
}

let fieldSeq = 0;
export function Field(props: {
  label: string;
  name: string;
  errors?: Record<string, string>;
  hint?: string;
  children: (id: string, describedBy: string | undefined) => JSX.Element;
}) {
  const [id] = useState(() => `f${++fieldSeq}`);
  const err = props.errors?.[props.name];
  const described = err ? `${id}-err` : props.hint ? `${id}-hint` : undefined;
  return (
    <div class={`field${err ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, described)}
      {err ? (
        <span class="field-error" id={`${id}-err`} role="alert">
          {err}
        </span>
      ) : props.hint ? (
        <span class="hint" id={`${id}-hint`}>
          {props.hint}
        </span>
      ) : null}
    </div>
  );
}

export function Status({ value }: { value: string | null | undefined }) {
  return <span class={`badge s-${value ?? 'none'}`}>{value ?? '—'}</span>;
}

/** A backup's status, kind, stored and raw sizes and duration, as table cells (the journal, a server run's databases). */
export function BackupCells({ r }: { r: any }) {
  return (
    <>
      <td>
        <Status value={r.status} />
      </td>
      <td>{r.kind}</td>
      <td>{bytes(r.sizeBytes)}</td>
      <td>{bytes(r.rawSizeBytes)}</td>
      <td>{duration(r.durationMs)}</td>
    </>
  );
}

export function Sparkline({ values, failed, label }: { values: (number | null)[]; failed: boolean[]; label: string }) {
  const w = 120;
  const h = 28;
  const nums = values.map((v) => v ?? 0);
  const max = Math.max(1, ...nums);
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  const pts = nums.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      {values.length > 1 ? <polyline points={pts} fill="none" stroke="currentColor" stroke-width="1.5" /> : null}
      {nums.map((v, i) => (failed[i] ? <circle key={i} cx={i * step} cy={h - 2 - (v / max) * (h - 4)} r="2.5" class="spark-fail" /> : null))}
    </svg>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <div class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}
