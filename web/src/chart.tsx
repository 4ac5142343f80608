// A time-series chart on uPlot: one series per backup kind (full, differential, incremental told apart by
// colour and point shape), failed runs marked on the time axis in red.

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Point {
  startedAt: string;
  kind: string;
  status: string;
  value: number | null;
}

const colours: Record<string, string> = { full: '#2f6fdb', differential: '#c77d0a', incremental: '#2f9e44' };

export function RunChart({ title, points, format }: { title: string; points: Point[]; format: (v: number) => string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const xs = points.map((p) => Date.parse(p.startedAt) / 1000);
    const kinds = ['full', 'differential', 'incremental'];
    const ok = (p: Point) => p.status === 'success' || p.status === 'partial';
    const series = kinds.map((k) => points.map((p) => (p.kind === k && ok(p) ? p.value : null)));
    const failed = points.map((p) => (ok(p) ? null : 0));
    const data = [xs, ...series, failed] as uPlot.AlignedData;
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const axis = { stroke: dark ? '#bbb' : '#444', grid: { stroke: dark ? '#333' : '#e5e5e5' }, ticks: { stroke: dark ? '#333' : '#ccc' } };
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 200,
      title,
      series: [
        {},
        ...kinds.map((k) => ({
          label: k,
          stroke: colours[k],
          width: 1.5,
          spanGaps: true,
          points: { show: true, size: 5 },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
        })),
        { label: 'failed', stroke: '#d63939', width: 0, points: { show: true, size: 9, fill: '#d63939' }, value: (_u: uPlot, v: number | null) => (v === null ? '' : 'failed') },
      ],
      axes: [axis, { ...axis, size: 70, values: (_u, vals) => vals.map((v) => format(v)) }],
      // One run alone would get a range of years around it: give it an hour either side instead.
      scales: { x: { time: true, range: (_u, min, max) => (max - min < 60 ? [min - 3600, max + 3600] : [min, max]) } },
      legend: { live: true },
    };
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [points, title]);
  return <div class="chart" ref={ref} role="img" aria-label={`${title}: ${points.length} runs`} />;
}
