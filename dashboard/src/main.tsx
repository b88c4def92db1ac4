/**
 * The trainstack dashboard: tasks, one task, submit, stats and models, over the same HTTPS API the
 * CLI uses. Preact and Pico CSS, bundled by esbuild (dashboard/build.ts); hash routes, so any static
 * host serves it. `config.json` beside the page says where the API is and, deployed, how to sign in.
 */
import '@picocss/pico/css/pico.min.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { configure, type DashboardConfig } from './api.ts';
import { ModelsPage } from './pages/models.tsx';
import { StatsPage } from './pages/stats.tsx';
import { SubmitPage } from './pages/submit.tsx';
import { TaskPage } from './pages/task.tsx';
import { TasksPage } from './pages/tasks.tsx';
import { ErrorNote } from './ui.tsx';

const PAGES = [
  ['#/tasks', 'Tasks'],
  ['#/submit', 'Submit'],
  ['#/stats', 'Stats'],
  ['#/models', 'Models'],
] as const;

function useHash() {
  const [hash, setHash] = useState(window.location.hash || '#/tasks');
  useEffect(() => {
    const on = () => setHash(window.location.hash || '#/tasks');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Page({ hash }: { hash: string }) {
  const task = /^#\/tasks\/([^/?]+)/.exec(hash);
  if (task?.[1]) return <TaskPage id={decodeURIComponent(task[1])} />;
  if (hash.startsWith('#/submit')) return <SubmitPage />;
  if (hash.startsWith('#/stats')) return <StatsPage />;
  if (hash.startsWith('#/models')) return <ModelsPage />;
  return <TasksPage />;
}

function App({ user, signOut }: { user?: string; signOut?: () => void }) {
  const hash = useHash();
  useEffect(() => {
    const title = PAGES.find(([h]) => hash.startsWith(h))?.[1] ?? 'Tasks';
    document.title = `${title} · trainstack`;
  }, [hash]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="container-fluid">
        <nav aria-label="main">
          <ul>
            <li>
              <strong>trainstack</strong>
            </li>
          </ul>
          <ul>
            {PAGES.map(([h, label]) => (
              <li key={h}>
                <a href={h} aria-current={hash.startsWith(h) ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
            {signOut && (
              <li>
                <button type="button" class="secondary outline" onClick={signOut}>
                  Sign out {user}
                </button>
              </li>
            )}
          </ul>
        </nav>
      </header>
      <main id="main" class="container-fluid">
        <Page hash={hash} />
      </main>
    </>
  );
}

async function boot() {
  const root = document.getElementById('app');
  if (!root) return;
  try {
    const config = (await (await fetch('config.json', { cache: 'no-store' })).json()) as DashboardConfig;
    if (config.identityPoolId) {
      // deployed: sign in (Cognito), then sign every request with the user's AWS credentials
      const { signIn } = await import('./auth.ts');
      const session = await signIn(config);
      if (!session) return; // gone to the sign-in page
      configure(config, session.signer);
      render(<App user={session.user} signOut={session.signOut} />, root);
      return;
    }
    configure(config);
    render(<App />, root);
  } catch (e) {
    render(<ErrorNote error={e} />, root);
  }
}

void boot();
