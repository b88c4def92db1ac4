/** The tasks: a table with filters and paging, live (polled), with cancel and retry. */
import { useState } from 'preact/hooks';
import type { TaskRecord } from '../../../lambdas/domain/model.ts';
import { api } from '../api.ts';
import {
  age,
  duration,
  ErrorNote,
  Head,
  Progress,
  STATUSES,
  Status,
  TERMINAL,
  TYPES,
  usePolling,
} from '../ui.tsx';

export const modelOf = (t: TaskRecord) =>
  t.spec.type === 'inference' || t.spec.type === 'trajectory' || t.spec.type === 'training'
    ? ((t.spec.params as { model?: string }).model ?? '')
    : '';

/** Seconds the task has run (so far, while it runs). */
export function runSeconds(t: TaskRecord): number | undefined {
  if (t.durationSeconds !== undefined) return t.durationSeconds;
  if (!t.startedAt) return undefined;
  return ((t.finishedAt ? Date.parse(t.finishedAt) : Date.now()) - Date.parse(t.startedAt)) / 1000;
}

export function TaskActions({ task, onDone }: { task: TaskRecord; onDone: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const act = async (what: 'cancel' | 'retry') => {
    setBusy(true);
    try {
      await api('POST', `/v1/tasks/${task.taskId}/${what}`);
      setError(undefined);
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const name = task.name ?? task.taskId;
  return (
    <span class="actions">
      {!TERMINAL.has(task.status) && (
        <button
          type="button"
          class="secondary"
          disabled={busy}
          aria-label={`Cancel ${name}`}
          onClick={() => act('cancel')}
        >
          Cancel
        </button>
      )}
      {(task.status === 'FAILED' || task.status === 'CANCELLED') && (
        <button
          type="button"
          class="secondary"
          disabled={busy}
          aria-label={`Retry ${name}`}
          onClick={() => act('retry')}
        >
          Retry
        </button>
      )}
      <ErrorNote error={error} />
    </span>
  );
}

export function TasksPage() {
  const [status, setStatus] = useState('');
  const [type, setType] = useState('');
  const [model, setModel] = useState('');
  const [owner, setOwner] = useState('');
  const [pageSize, setPageSize] = useState(20);
  /** cursors of the pages before this one, and this page's */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors.at(-1);
  const { value, error, reload } = usePolling(
    () => {
      const q = new URLSearchParams({ limit: String(pageSize) });
      if (status) q.set('status', status);
      if (type) q.set('type', type);
      if (owner) q.set('owner', owner);
      if (model) q.set('model', model);
      if (cursor) q.set('cursor', cursor);
      return api<{ tasks: TaskRecord[]; cursor?: string }>('GET', `/v1/tasks?${q}`);
    },
    2000,
    [status, type, owner, model, cursor, pageSize],
  );
  /** the registered models, to filter by (the tasks that call one, on every page) */
  const models = usePolling(
    () => api<{ models: { modelId: string; name: string }[] }>('GET', '/v1/models'),
    30_000,
    [],
  );
  /** a filter changed: back to the first page */
  const changed = (set: (v: string) => void) => (e: Event) => {
    set((e.currentTarget as HTMLInputElement).value);
    setCursors([undefined]);
  };
  const rows = value?.tasks ?? [];
  return (
    <section>
      <h1>Tasks</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={changed(setStatus)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select value={type} onChange={changed(setType)}>
            <option value="">any</option>
            {TYPES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select value={model} onChange={changed(setModel)}>
            <option value="">any</option>
            {(models.value?.models ?? []).map((m) => (
              <option key={m.modelId} value={m.modelId}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Owner (admins)
          <input value={owner} placeholder="ARN" onChange={changed(setOwner)} />
        </label>
        <label>
          Per page
          <select value={pageSize} onChange={changed((v) => setPageSize(Number(v)))}>
            {[20, 50, 100].map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <div class="table-wrap">
        <table class="striped" aria-label="tasks">
          <Head
            cols={[
              'Task',
              'Status',
              'Type',
              'Model',
              'Priority',
              'Progress',
              'Queue position or reason',
              'Age',
              'Duration',
              'Actions',
            ]}
          />
          <tbody>
            {rows.map((t) => (
              <tr key={t.taskId} data-task={t.taskId} data-status={t.status}>
                <td>
                  <a href={`#/tasks/${t.taskId}`}>{t.name ?? t.taskId}</a>
                </td>
                <td>
                  <Status status={t.status} />
                </td>
                <td>{t.type}</td>
                <td>{modelOf(t)}</td>
                <td>{t.priority}</td>
                <td>
                  <Progress value={t.progress} label={`progress of ${t.name ?? t.taskId}`} />
                </td>
                <td class="reason">{t.statusReason ?? ''}</td>
                <td>{age(t.createdAt)}</td>
                <td>{duration(runSeconds(t))}</td>
                <td>
                  <TaskActions task={t} onDone={reload} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {value && rows.length === 0 && <p>No tasks here yet: submit one.</p>}
      <nav class="paging" aria-label="pages">
        <button
          type="button"
          class="secondary"
          disabled={cursors.length < 2}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous page
        </button>
        <button
          type="button"
          class="secondary"
          disabled={!value?.cursor}
          onClick={() => value?.cursor && setCursors([...cursors, value.cursor])}
        >
          Next page
        </button>
      </nav>
    </section>
  );
}
