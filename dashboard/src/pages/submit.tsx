/** Submit: a form per task type (the API's fields), and a tasks.jsonl upload with per-line results. */
import { useState } from 'preact/hooks';
import {
  type BatchFormat,
  detectFormat,
  FORMAT_NAMES,
  providerBatchTask,
} from '../../../containers/runner/src/batch-formats.ts';
import type { TaskRecord } from '../../../lambdas/domain/model.ts';
import { ApiError, api, type BatchAnswer, submitLines } from '../api.ts';
import { ErrorNote, Head, TYPES } from '../ui.tsx';

function formatOfLine(line: string | undefined): BatchFormat | undefined {
  try {
    return line ? detectFormat(JSON.parse(line)) : undefined;
  } catch {
    return undefined;
  }
}

type Fields = Record<string, string>;

const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
const list = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? [];
const drop = (o: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && v !== '' && !(Array.isArray(v) && !v.length)),
  );

/** The task the form's fields describe, as `POST /v1/tasks` takes it. */
export function specOf(type: string, f: Fields): Record<string, unknown> {
  const common = drop({
    name: f.name,
    priority: num(f.priority),
    timeoutSeconds: num(f.timeoutSeconds),
    maxRetries: num(f.maxRetries),
    gpus: num(f.gpus),
    image: f.image,
    command: f.command ? ['sh', '-c', f.command] : undefined,
  });
  if (type === 'training')
    return {
      type,
      ...common,
      params: drop({
        epochs: num(f.epochs),
        batchSize: num(f.batchSize),
        learningRate: num(f.learningRate),
        dataset: f.dataset,
        trainer: f.trainer,
      }),
    };
  if (type === 'inference')
    return {
      type,
      ...common,
      params: drop({ model: f.model, kind: f.kind || 'text-generation', input: f.input }),
    };
  if (type === 'trajectory')
    return {
      type,
      ...common,
      params: drop({
        taskType: f.taskType || 'reasoning',
        description: f.description,
        model: f.model,
        maxSteps: num(f.maxSteps),
        expectedTools: list(f.expectedTools),
      }),
    };
  return { type, ...common };
}

const FIELDS: Record<string, [name: string, label: string, kind?: string, options?: string[]][]> = {
  training: [
    ['epochs', 'Epochs', 'number'],
    ['batchSize', 'Batch size', 'number'],
    ['learningRate', 'Learning rate', 'number'],
    ['dataset', 'Dataset (s3:// or https://, optional)'],
    ['trainer', 'Trainer', 'select', ['', 'torch-mlp', 'sklearn']],
    ['gpus', 'GPUs', 'number'],
  ],
  inference: [
    ['model', 'Model (registered name)'],
    ['kind', 'Kind', 'select', ['text-generation', 'translation', 'summarization', 'embedding', 'custom']],
    ['input', 'Input', 'textarea'],
  ],
  trajectory: [
    ['taskType', 'Task type', 'select', ['reasoning', 'code', 'web']],
    ['description', 'Description', 'textarea'],
    ['model', 'Model (registered name)'],
    ['maxSteps', 'Max steps', 'number'],
    ['expectedTools', 'Tools (comma separated, optional)'],
  ],
  container: [
    ['image', 'Image'],
    ['command', 'Command (run with sh -c)', 'textarea'],
    ['gpus', 'GPUs', 'number'],
  ],
};

const COMMON: [string, string, string][] = [
  ['name', 'Name (optional)', 'text'],
  ['priority', 'Priority (1-10)', 'number'],
  ['timeoutSeconds', 'Timeout (seconds)', 'number'],
  ['maxRetries', 'Retries', 'number'],
];

function TaskForm() {
  const [type, setType] = useState('container');
  const [fields, setFields] = useState<Fields>({
    epochs: '5',
    batchSize: '32',
    learningRate: '0.001',
    image: 'busybox',
  });
  const [error, setError] = useState<unknown>(undefined);
  const [created, setCreated] = useState<TaskRecord | undefined>(undefined);
  const set = (k: string) => (e: Event) =>
    setFields({ ...fields, [k]: (e.currentTarget as HTMLInputElement).value });
  const wrong = (k: string) =>
    error instanceof ApiError
      ? error.details.find((d) => d.path === k || d.path.endsWith(`.${k}`))?.message
      : undefined;
  const input = ([k, label, kind, options]: [string, string, string?, string[]?]) => {
    const bad = wrong(k);
    const id = `f-${k}`;
    const props = {
      id,
      name: k,
      value: fields[k] ?? '',
      'aria-invalid': bad ? true : undefined,
      'aria-describedby': bad ? `${id}-err` : undefined,
    };
    return (
      <label key={k} for={id}>
        {label}
        {kind === 'select' ? (
          <select {...props} onChange={set(k)}>
            {options?.map((o) => (
              <option key={o} value={o}>
                {o || 'default'}
              </option>
            ))}
          </select>
        ) : kind === 'textarea' ? (
          <textarea {...props} rows={3} onInput={set(k)} />
        ) : (
          <input {...props} type={kind === 'number' ? 'number' : 'text'} step="any" onInput={set(k)} />
        )}
        {bad && <small id={`${id}-err`}>{bad}</small>}
      </label>
    );
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setCreated(undefined);
    try {
      setCreated(await api<TaskRecord>('POST', '/v1/tasks', specOf(type, fields)));
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} aria-label="submit a task">
      <label for="f-type">
        Type
        <select id="f-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
          {TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </label>
      <div class="grid-fields">{(FIELDS[type] ?? []).map(input)}</div>
      <details>
        <summary>Name, priority, timeout, retries</summary>
        <div class="grid-fields">{COMMON.map(input)}</div>
      </details>
      <button type="submit">Submit</button>
      <ErrorNote error={error} />
      {created && (
        <p role="status">
          Submitted: <a href={`#/tasks/${created.taskId}`}>{created.name ?? created.taskId}</a> (
          {created.status})
        </p>
      )}
    </form>
  );
}

function Upload() {
  const [answer, setAnswer] = useState<BatchAnswer | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [provider, setProvider] = useState<{ what: string; task: TaskRecord } | undefined>(undefined);
  const upload = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    setAnswer(undefined);
    setProvider(undefined);
    try {
      const text = await file.text();
      const lines = text.split('\n').filter((l) => l.trim());
      // a provider's batch file is one inference task on the models its lines name (as the CLI's batch)
      const format = formatOfLine(lines[0]);
      if (format) {
        const planned = providerBatchTask(format, lines);
        const what = `${file.name}: an ${FORMAT_NAMES[format]} batch file of ${lines.length} lines`;
        if ('error' in planned) throw new Error(`${what}; ${planned.error}`);
        const task = await api<TaskRecord>('POST', '/v1/tasks', {
          ...planned.spec,
          name: file.name.slice(0, 128),
        });
        setProvider({ what: `${what} to ${planned.models.join(', ')}`, task });
      } else setAnswer(await submitLines(text));
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <h2>Upload tasks.jsonl</h2>
      <p>
        One task per line (the API's task JSON, or seed 003's trajectory lines), or a provider batch file
        (OpenAI, Anthropic, Bedrock) as an inference task's <code>inputs</code>.
      </p>
      <label for="f-upload">
        File
        <input id="f-upload" type="file" accept=".jsonl,.json,.ndjson,application/json" onChange={upload} />
      </label>
      <ErrorNote error={error} />
      {provider && (
        <p role="status">
          {provider.what}: task <a href={`#/tasks/${provider.task.taskId}`}>{provider.task.taskId}</a>; its
          output.jsonl and errors.jsonl are among its artifacts.
        </p>
      )}
      {answer && (
        <div role="status">
          <p>
            {answer.accepted.length} accepted, {answer.rejected.length} refused
            {answer.batchId ? ` (batch ${answer.batchId})` : ''}
          </p>
          <table aria-label="upload results">
            <Head cols={['Line', 'Result']} />
            <tbody>
              {[
                ...answer.accepted.map((a) => ({ line: a.line, ok: a.taskId })),
                ...answer.rejected.map((r) => ({ line: r.line, bad: r.error })),
              ]
                .sort((a, b) => a.line - b.line)
                .map((r) => (
                  <tr key={r.line}>
                    <td>{r.line}</td>
                    <td>
                      {'ok' in r ? (
                        <a href={`#/tasks/${r.ok}`}>{r.ok}</a>
                      ) : (
                        <span class="error">
                          {r.bad?.message}
                          {r.bad?.details?.map((d) => ` ${d.path}: ${d.message}`).join(';')}
                        </span>
                      )}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function SubmitPage() {
  return (
    <section>
      <h1>Submit</h1>
      <TaskForm />
      <Upload />
    </section>
  );
}
