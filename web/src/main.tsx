// The coffre dashboard: a login, then pages routed by the URL's hash (#/, #/plans/ID, #/journal (backups, restores, drills: ?tab=), #/runs/ID,
// #/restore, #/targets, #/destinations, #/plans, #/tokens). Every call goes to the documented REST API.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, can, useSession, whenLoggedOut, type Session } from './api.ts';
import { Login } from './pages/login.tsx';
import { Overview } from './pages/overview.tsx';
import { PlanPage } from './pages/plan.tsx';
import { Journal } from './pages/journal.tsx';
import { RunPage } from './pages/run.tsx';
import { RestoreWizard } from './pages/restore.tsx';
import { Targets, Destinations, Plans } from './pages/config.tsx';
import { Tokens } from './pages/tokens.tsx';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const f = () => setHash(location.hash || '#/');
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const hash = useHash();
  useEffect(() => {
    whenLoggedOut(() => {
      useSession(null);
      setSession(null);
    });
    api<Session>('GET', '/api/session').then(
      (s) => {
        useSession(s);
        setSession(s);
      },
      () => setSession(null),
    );
  }, []);
  useEffect(() => {
    const h1 = document.querySelector('main h1');
    document.title = h1?.textContent ? `${h1.textContent} · coffre` : 'coffre';
  });
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <Login
        onLogin={(s) => {
          useSession(s);
          setSession(s);
        }}
      />
    );
  }
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = path.split('/').filter(Boolean);
  let page;
  if (parts.length === 0) page = <Overview session={session} />;
  else if (parts[0] === 'plans' && parts[1]) page = <PlanPage id={decodeURIComponent(parts[1])} session={session} />;
  else if (parts[0] === 'plans') page = <Plans session={session} />;
  else if (parts[0] === 'journal') page = <Journal params={params} />;
  else if (parts[0] === 'runs' && parts[1]) page = <RunPage id={decodeURIComponent(parts[1])} session={session} />;
  else if (parts[0] === 'restore') page = <RestoreWizard key={hash} session={session} backupId={params.get('backup') ?? undefined} />;
  else if (parts[0] === 'targets') page = <Targets session={session} />;
  else if (parts[0] === 'destinations') page = <Destinations session={session} />;
  else if (parts[0] === 'tokens') page = <Tokens session={session} />;
  else page = <h1>Not found</h1>;
  const links: [string, string, boolean][] = [
    ['#/', 'Overview', true],
    ['#/journal', 'Journal', true],
    ['#/restore', 'Restore', can(session, 'operator')],
    ['#/plans', 'Plans', true],
    ['#/targets', 'Targets', true],
    ['#/destinations', 'Destinations', true],
    ['#/tokens', 'Tokens', can(session, 'admin')],
  ];
  const current = `#/${parts[0] ?? ''}`;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          coffre
        </a>
        <nav aria-label="Main">
          {links
            .filter((l) => l[2])
            .map(([href, label]) => (
              <a href={href} aria-current={current === href ? 'page' : undefined}>
                {label}
              </a>
            ))}
          <a href="/api/docs">API</a>
        </nav>
        <div class="who">
          <span title={`logged in as ${session.name}`}>
            {session.name} · <strong>{session.role}</strong>
          </span>
          {session.via === 'session' ? (
            <button
              type="button"
              class="link"
              onClick={async () => {
                await api('DELETE', '/api/session').catch(() => {});
                useSession(null);
                setSession(null);
                location.hash = '#/';
              }}
            >
              Log out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
