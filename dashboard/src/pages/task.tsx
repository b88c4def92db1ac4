/**
 * One task: its spec (env and secrets by name only, as the API shows them), attempts, progress and
 * metric charts over time, its live log (the event stream), resource usage, artifacts with download
 * links, and for agent tasks the trajectory, step by step.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { parseLine } from '../../../containers/runner/src/parse.ts';
import type { TaskRecord } from '../../../lambdas/domain/model.ts';
import { api, followEvents } from '../api.ts';
import { Chart, duration, ErrorNote, Head, Progress, Status, TERMINAL, usePolling } from '../ui.tsx';
import { runSeconds, TaskActions } from './tasks.tsx';

interface LogLine {
  timestamp: number;
  message: string;
  level?: string;
  attempt?: number;
}
interface Sample {
  t: number;
  /** none: a sample of metrics only */
  progress?: number | undefined;
  metrics: Record<string, number>;
}
interface Step {
  step_id: number;
  action_type: string;
  action_params: Record<string, unknown>;
  observation: string;
  success: boolean;
  duration: number;
  tool?: string;
  reasoning?: string;
}

function useLive(taskId: string) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [reported, setReported] = useState<Sample[]>([]);
  const [status, setStatus] = useState<string | undefined>(undefined);
  useEffect(() => {
    setLines([]);
    setSamples([]);
    setReported([]);
    const abort = new AbortController();
    const pending: LogLine[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    // log lines arrive in bursts: show them in one render per frame or so
    const flush = () => {
      timer = undefined;
      const batch = pending.splice(0);
      setLines((l) => [...l, ...batch].slice(-5000));
    };
    void followEvents(
      taskId,
      (e) => {
        if (e.event === 'log') {
          const line = e.data as unknown as LogLine;
          pending.push(line);
          timer ??= setTimeout(flush, 100);
          // the workload's own progress lines, read as the runner reads them: charts of a finished task too
          const u = parseLine(line.message);
          if (u?.progress !== undefined || u?.metrics) {
            const sample = { t: line.timestamp / 1000, progress: u.progress, metrics: u.metrics ?? {} };
            setSamples((s) => [...s, sample]);
          }
        } else if (e.event === 'progress') {
          // the task's own record, as it changes: the charts' fallback for workloads that print no progress
          const d = e.data as { progress?: number; metrics?: Record<string, number> };
          setReported((s) => [
            ...s,
            { t: Date.now() / 1000, progress: d.progress ?? 0, metrics: d.metrics ?? {} },
          ]);
        } else if (e.event === 'status' || e.event === 'end') {
          setStatus(String(e.data.status ?? ''));
        }
      },
      abort.signal,
    );
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [taskId]);
  return { lines, samples: samples.length >= 2 ? samples : reported, status };
}

function Log({ lines }: { lines: LogLine[] }) {
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  return (
    <section>
      <h2>Log</h2>
      <label>
        <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
        Follow
      </label>
      <div class="log" ref={box} role="log" aria-label="log">
        {lines.map((l, i) => (
          <div key={i} class={`log-${l.level ?? 'info'}`}>
            <time>{new Date(l.timestamp).toISOString().slice(11, 19)}</time> {l.message}
          </div>
        ))}
      </div>
    </section>
  );
}

function Charts({ samples }: { samples: Sample[] }) {
  // in time order, at most 600 points (every k-th beyond that)
  const sorted = useMemo(() => {
    const all = [...samples].sort((a, b) => a.t - b.t);
    const k = Math.ceil(all.length / 600);
    return k > 1 ? all.filter((_, i) => i % k === 0 || i === all.length - 1) : all;
  }, [samples]);
  const x = useMemo(() => sorted.map((s) => s.t), [sorted]);
  const progress = useMemo(
    () => [{ label: 'progress %', values: sorted.map((s) => s.progress ?? null) }],
    [sorted],
  );
  const metrics = useMemo(() => {
    // the ones that change (an epoch counter or a constant is not worth a line), six at most
    const names = [...new Set(sorted.flatMap((s) => Object.keys(s.metrics)))]
      .filter((n) => n !== 'epoch' && new Set(sorted.map((s) => s.metrics[n])).size > 1)
      .slice(0, 6);
    return names.map((n) => ({ label: n, values: sorted.map((s) => s.metrics[n] ?? null) }));
  }, [sorted]);
  if (sorted.length < 2) return <p class="muted">Charts appear as the task reports progress.</p>;
  // one chart each: a loss near 0 and samples/s near 100,000 share no scale
  return (
    <div class="charts">
      <Chart title="Progress" x={x} series={progress} />
      {metrics.map((m) => (
        <Chart key={m.label} title={m.label} x={x} series={[m]} />
      ))}
    </div>
  );
}

function Artifacts({ task }: { task: TaskRecord }) {
  const done = TERMINAL.has(task.status);
  const { value, error } = usePolling(
    () =>
      api<{ artifacts: { key: string; size: number; url: string }[] }>(
        'GET',
        `/v1/tasks/${task.taskId}/artifacts`,
      ),
    done ? 0 : 5000,
    [task.taskId, done],
  );
  return (
    <section>
      <h2>Artifacts</h2>
      <ErrorNote error={error} />
      {value?.artifacts.length === 0 && <p class="muted">None yet.</p>}
      <ul>
        {value?.artifacts.map((a) => (
          <li key={a.key}>
            <a href={a.url} download>
              {a.key.split('/').slice(2).join('/')}
            </a>{' '}
            <small>{a.size.toLocaleString()} bytes</small>
          </li>
        ))}
      </ul>
    </section>
  );
}

function TrajectoryView({ task }: { task: TaskRecord }) {
  const done = TERMINAL.has(task.status);
  const { value, error } = usePolling(
    () =>
      api<{ steps: Step[]; final_result: string | null; success: boolean }>(
        'GET',
        `/v1/tasks/${task.taskId}/trajectory`,
      ),
    0,
    [task.taskId, done],
  );
  return (
    <section>
      <h2>Trajectory</h2>
      {error && done ? <ErrorNote error={error} /> : null}
      {!value && !done && <p class="muted">The trajectory is written when the agent finishes.</p>}
      {value && (
        <>
          <ol class="steps">
            {value.steps.map((s) => (
              <li key={s.step_id} class={s.success ? 'ok' : 'bad'}>
                <details>
                  <summary>
                    <strong>{s.action_type}</strong> {s.tool ? `(${s.tool})` : ''}{' '}
                    {s.success ? '' : '— failed'} <small>{duration(s.duration)}</small>
                  </summary>
                  {s.reasoning && <p>{s.reasoning}</p>}
                  <h3>Action</h3>
                  <pre>{JSON.stringify(s.action_params, null, 2)}</pre>
                  <h3>Observation</h3>
                  <pre>{s.observation}</pre>
                </details>
              </li>
            ))}
          </ol>
          <p>
            <strong>Final answer:</strong> {value.final_result ?? '(none)'}
          </p>
        </>
      )}
    </section>
  );
}

export function TaskPage({ id }: { id: string }) {
  const live = useLive(id);
  const {
    value: task,
    error,
    reload,
  } = usePolling(() => api<TaskRecord>('GET', `/v1/tasks/${id}`), 2000, [id]);
  // the stream's status is news: read the task again when it changes
  useEffect(() => reload(), [live.status]);
  if (!task)
    return <section>{error ? <ErrorNote error={error} /> : <p aria-busy="true">Loading…</p>}</section>;
  return (
    <section>
      <p>
        <a href="#/tasks">← Tasks</a>
      </p>
      <h1>{task.name ?? task.taskId}</h1>
      <p class="headline">
        <Status status={task.status} /> <Progress value={task.progress} label="progress" /> {task.type}
        {task.batchStatus && <span> · batch {task.batchStatus}</span>}
        {task.requestCounts && (
          <span>
            {' '}
            · requests {task.requestCounts.completed} done, {task.requestCounts.failed} failed of{' '}
            {task.requestCounts.total}
          </span>
        )}
      </p>
      {task.statusReason && <p class="reason">{task.statusReason}</p>}
      <TaskActions task={task} onDone={reload} />
      <ErrorNote error={error} />
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <code>{task.taskId}</code>
        </dd>
        <dt>Owner</dt>
        <dd>{task.owner}</dd>
        <dt>Created</dt>
        <dd>{task.createdAt}</dd>
        <dt>Ran for</dt>
        <dd>{duration(runSeconds(task)) || '—'}</dd>
        {task.estimatedCostUsd !== undefined && (
          <>
            <dt>Estimated cost</dt>
            <dd>${task.estimatedCostUsd.toFixed(4)}</dd>
          </>
        )}
      </dl>
      <Charts samples={live.samples} />
      <Log lines={live.lines} />
      <section>
        <h2>Attempts</h2>
        <div class="table-wrap">
          <table aria-label="attempts">
            <Head cols={['#', 'Started', 'Ended', 'Outcome', 'Exit code', 'Reason']} />
            <tbody>
              {task.attempts.map((a) => (
                <tr key={a.attempt}>
                  <td>{a.attempt}</td>
                  <td>{a.startedAt}</td>
                  <td>{a.endedAt ?? '—'}</td>
                  <td>{a.outcome ?? 'running'}</td>
                  <td>{a.exitCode ?? ''}</td>
                  <td>{a.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      {task.resourceUsage && (
        <section>
          <h2>Resource usage</h2>
          <dl class="facts">
            {Object.entries(task.resourceUsage).map(([k, v]) => (
              <>
                <dt key={`${k}-t`}>{k}</dt>
                <dd key={`${k}-d`}>{String(v)}</dd>
              </>
            ))}
          </dl>
        </section>
      )}
      {task.metrics && (
        <section>
          <h2>Metrics</h2>
          <dl class="facts">
            {Object.entries(task.metrics).map(([k, v]) => (
              <>
                <dt key={`${k}-t`}>{k}</dt>
                <dd key={`${k}-d`}>{v}</dd>
              </>
            ))}
          </dl>
        </section>
      )}
      <Artifacts task={task} />
      {task.type === 'trajectory' && <TrajectoryView task={task} />}
      <section>
        <h2>Spec</h2>
        <pre class="spec">{JSON.stringify(task.spec, null, 2)}</pre>
      </section>
    </section>
  );
}
