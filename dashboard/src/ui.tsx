/** Small shared pieces: status badges, progress bars, times, errors, the chart (uPlot), polling. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError } from './api.ts';

export const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const STATUSES = ['QUEUED', 'STARTING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
export const TYPES = ['training', 'inference', 'trajectory', 'container'];

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

/** A table's column headers. */
export function Head({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  return (
    <span class="progress">
      <progress value={value} max={100} aria-label={label} />
      <span>{Math.round(value)}%</span>
    </span>
  );
}

/** "3 min ago" style ages, "1 h 2 min" durations */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
export const age = (iso: string | undefined) => (iso ? duration((Date.now() - Date.parse(iso)) / 1000) : '');

/** What went wrong, with the fields the API named. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as Error;
  return (
    <div role="alert" class="error">
      <strong>{e instanceof ApiError ? `${e.status}: ` : ''}</strong>
      {e.message}
      {e instanceof ApiError && e.details.length > 0 && (
        <ul>
          {e.details.map((d) => (
            <li key={d.path}>
              <code>{d.path}</code>: {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Calls `load` now and every `everyMs` while the page shows; the last value and error. */
export function usePolling<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const v = await load();
        if (!stopped) {
          setValue(v);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { value, error, reload: () => setTick((t) => t + 1) };
}

export interface Series {
  label: string;
  values: (number | null)[];
}

/** A line chart over time (uPlot): x in seconds since the epoch. */
export function Chart({ title, x, series }: { title: string; x: number[]; series: Series[] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = series.map((s) => s.label).join('|');
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(280, Math.min(640, el.current.clientWidth || 600));
    const colors = ['#1f6feb', '#d9480f', '#2b8a3e', '#862e9c', '#e67700', '#0b7285'];
    plot.current = new uPlot(
      {
        title,
        width,
        height: 220,
        series: [
          {},
          // a metric some lines leave out is one line across them, not dots
          ...series.map((s, i) => ({
            label: s.label,
            stroke: colors[i % colors.length],
            width: 2,
            spanGaps: true,
          })),
        ],
        axes: [{}, {}],
      },
      [x, ...series.map((s) => s.values)] as uPlot.AlignedData,
      el.current,
    );
    return () => plot.current?.destroy();
  }, [shape, title]);
  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);
  return <figure class="chart" ref={el} aria-label={title} />;
}

export function Card({
  label,
  value,
  children,
}: {
  label: string;
  value: ComponentChildren;
  children?: ComponentChildren;
}) {
  return (
    <article class="card">
      <header>{label}</header>
      <p class="value" data-stat={label}>
        {value}
      </p>
      {children}
    </article>
  );
}
