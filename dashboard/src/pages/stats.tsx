/** Stats: counts by status, type and model, success rate, queue depth, workers in use, a chart by day. */
import { useMemo } from 'preact/hooks';
import type { DailyCounts } from '../../../lambdas/domain/task-repository.ts';
import type { StatsView } from '../../../lambdas/domain/tasks.ts';
import { api } from '../api.ts';
import { Card, Chart, duration, ErrorNote, Head, STATUSES, usePolling } from '../ui.tsx';

interface ModelStats {
  name: string;
  status: string;
  workersInUse: number;
  maxWorkers: number;
  total: number;
  successRate: number | null;
  queueDepth: number;
  promptTokens: number;
  completionTokens: number;
}

const pct = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${n}%`);

export function StatsPage() {
  const { value: s, error } = usePolling(() => api<StatsView>('GET', '/v1/stats'), 3000, []);
  const { value: daily } = usePolling(
    () => api<{ days: DailyCounts[] }>('GET', '/v1/stats/daily?days=14'),
    30_000,
    [],
  );
  const { value: models } = usePolling(
    async () => {
      const { models } = await api<{ models: { modelId: string }[] }>('GET', '/v1/models');
      return Promise.all(models.map((m) => api<ModelStats>('GET', `/v1/models/${m.modelId}/stats`)));
    },
    5000,
    [],
  );
  const x = useMemo(() => daily?.days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000) ?? [], [daily]);
  const series = useMemo(
    () =>
      (['submitted', 'succeeded', 'failed', 'cancelled'] as const).map((k) => ({
        label: k,
        values: daily?.days.map((d) => d[k]) ?? [],
      })),
    [daily],
  );
  return (
    <section>
      <h1>Stats</h1>
      <ErrorNote error={error} />
      {s && (
        <>
          <div class="cards">
            <Card label="Tasks" value={s.total} />
            <Card label="Success rate" value={pct(s.successRate)} />
            <Card label="Queue depth" value={s.queueDepth} />
            <Card label="Running" value={`${s.running} of ${s.concurrencyCap}`} />
            <Card label="GPUs in use" value={s.runningGpus} />
            <Card label="Mean queue wait" value={duration(s.meanQueueWaitSeconds ?? undefined) || '—'} />
            <Card label="Mean run time" value={duration(s.meanRunSeconds ?? undefined) || '—'} />
            <Card label="Estimated cost" value={`$${s.estimatedCostUsd.toFixed(4)}`} />
          </div>
          <h2>By status</h2>
          <div class="cards">
            {STATUSES.map((st) => (
              <Card key={st} label={st} value={s.byStatus[st as keyof StatsView['byStatus']] ?? 0} />
            ))}
          </div>
          <h2>By type</h2>
          <div class="table-wrap">
            <table aria-label="tasks by type">
              <Head cols={['Type', 'Tasks', 'Succeeded', 'Failed', 'Success rate']} />
              <tbody>
                {Object.entries(s.byType).map(([type, t]) => (
                  <tr key={type}>
                    <td>{type}</td>
                    <td>{t.total}</td>
                    <td>{t.byStatus.SUCCEEDED ?? 0}</td>
                    <td>{t.byStatus.FAILED ?? 0}</td>
                    <td>{pct(t.successRate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h2>By model</h2>
      <div class="table-wrap">
        <table aria-label="tasks by model">
          <Head
            cols={[
              'Model',
              'Status',
              'Workers in use',
              'Tasks',
              'Queued',
              'Success rate',
              'Tokens (prompt / completion)',
            ]}
          />
          <tbody>
            {models?.map((m) => (
              <tr key={m.name}>
                <td>{m.name}</td>
                <td>{m.status}</td>
                <td>
                  {m.workersInUse} of {m.maxWorkers}
                </td>
                <td>{m.total}</td>
                <td>{m.queueDepth}</td>
                <td>{pct(m.successRate)}</td>
                <td>
                  {m.promptTokens.toLocaleString()} / {m.completionTokens.toLocaleString()}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>By day</h2>
      {daily && <Chart title="Tasks by day" x={x} series={series} />}
    </section>
  );
}
