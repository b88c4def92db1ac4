/** The model registry: its models with workers in use, add, edit, and online/offline. */
import { useState } from 'preact/hooks';
import type { ModelRecord } from '../../../lambdas/domain/models.ts';
import { ApiError, api } from '../api.ts';
import { ErrorNote, Head, usePolling } from '../ui.tsx';

type Draft = Record<'name' | 'type' | 'baseUrl' | 'model' | 'maxWorkers' | 'apiKey', string>;
const EMPTY: Draft = { name: '', type: 'openai', baseUrl: '', model: '', maxWorkers: '1', apiKey: '' };

const specOf = (d: Draft, status?: string) => ({
  name: d.name,
  type: d.type,
  baseUrl: d.baseUrl,
  model: d.model,
  maxWorkers: Number(d.maxWorkers),
  ...(d.apiKey ? { apiKey: d.apiKey } : {}),
  ...(status ? { status } : {}),
});

function ModelForm({ initial, onSaved, edit }: { initial: Draft; onSaved: () => void; edit?: ModelRecord }) {
  const [d, setD] = useState<Draft>(initial);
  const [error, setError] = useState<unknown>(undefined);
  const prefix = edit ? `m-${edit.modelId}` : 'm-new';
  const field = (k: keyof Draft, label: string, extra: Record<string, unknown> = {}) => {
    const bad = error instanceof ApiError ? error.details.find((x) => x.path === k)?.message : undefined;
    return (
      <label for={`${prefix}-${k}`}>
        {label}
        <input
          id={`${prefix}-${k}`}
          value={d[k]}
          aria-invalid={bad ? true : undefined}
          onInput={(e) => setD({ ...d, [k]: e.currentTarget.value })}
          {...extra}
        />
        {bad && <small>{bad}</small>}
      </label>
    );
  };
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      if (edit)
        await api('PUT', `/v1/models/${edit.modelId}`, {
          ...edit,
          ...specOf(d, edit.status),
          modelId: undefined,
          owner: undefined,
          createdAt: undefined,
          updatedAt: undefined,
          active: undefined,
        });
      else await api('POST', '/v1/models', specOf(d));
      setError(undefined);
      if (!edit) setD(EMPTY);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={save} aria-label={edit ? `edit ${edit.name}` : 'add a model'}>
      <div class="grid-fields">
        {field('name', 'Name')}
        <label for={`${prefix}-type`}>
          Type
          <select
            id={`${prefix}-type`}
            value={d.type}
            onChange={(e) => setD({ ...d, type: e.currentTarget.value })}
          >
            {['openai', 'local', 'custom'].map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        {field('baseUrl', 'Base URL', { placeholder: 'https://api.openai.com/v1' })}
        {field('model', 'Model id at the endpoint')}
        {field('maxWorkers', 'Max workers', { type: 'number', min: 1 })}
        {field('apiKey', 'API key secret (ssm:… or secretsmanager:…)', { placeholder: 'ssm:/my/key' })}
      </div>
      <button type="submit">{edit ? 'Save' : 'Add model'}</button>
      <ErrorNote error={error instanceof ApiError && error.details.length ? undefined : error} />
    </form>
  );
}

function ModelRow({ m, reload }: { m: ModelRecord; reload: () => void }) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const toggle = async () => {
    try {
      await api('PUT', `/v1/models/${m.modelId}/status`, {
        status: m.status === 'online' ? 'offline' : 'online',
      });
      setError(undefined);
      reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <tr data-model={m.name} data-status={m.status}>
        <td>{m.name}</td>
        <td>{m.type}</td>
        <td>{m.model}</td>
        <td class="url">{m.baseUrl}</td>
        <td>{m.status}</td>
        <td>
          {m.active} of {m.maxWorkers}
        </td>
        <td class="actions">
          <button
            type="button"
            class="secondary"
            aria-label={`${m.status === 'online' ? 'Take offline' : 'Bring online'} ${m.name}`}
            onClick={toggle}
          >
            {m.status === 'online' ? 'Take offline' : 'Bring online'}
          </button>
          <button
            type="button"
            class="secondary"
            aria-expanded={editing}
            onClick={() => setEditing(!editing)}
          >
            Edit
          </button>
          <ErrorNote error={error} />
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={7}>
            <ModelForm
              edit={m}
              initial={{
                name: m.name,
                type: m.type,
                baseUrl: m.baseUrl,
                model: m.model,
                maxWorkers: String(m.maxWorkers),
                apiKey: m.apiKey ?? '',
              }}
              onSaved={() => {
                setEditing(false);
                reload();
              }}
            />
          </td>
        </tr>
      )}
    </>
  );
}

export function ModelsPage() {
  const { value, error, reload } = usePolling(
    () => api<{ models: ModelRecord[] }>('GET', '/v1/models'),
    3000,
    [],
  );
  return (
    <section>
      <h1>Models</h1>
      <ErrorNote error={error} />
      <div class="table-wrap">
        <table aria-label="models">
          <Head cols={['Name', 'Type', 'Model', 'Base URL', 'Status', 'Workers in use', 'Actions']} />
          <tbody>
            {value?.models.map((m) => (
              <ModelRow key={m.modelId} m={m} reload={reload} />
            ))}
          </tbody>
        </table>
      </div>
      {value?.models.length === 0 && <p>No models yet.</p>}
      <h2>Add a model</h2>
      <ModelForm initial={EMPTY} onSaved={reload} />
    </section>
  );
}
