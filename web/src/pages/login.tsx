import { useState } from 'preact/hooks';
import { api, type Session } from '../api.ts';
import { ErrorBox, Field } from '../ui.tsx';

export function Login({ onLogin }: { onLogin: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <main class="login" id="main">
      <h1>coffre</h1>
      <p>
        Paste an API token (API_TOKEN, or one from <code>coffre token create NAME --role viewer|operator|admin</code>). It is traded for a session cookie and not kept in the
        browser.
      </p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            onLogin(await api<Session>('POST', '/api/session', { token: token.trim() }));
            setToken('');
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Token" name="token">
          {(id) => <input id={id} name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />}
        </Field>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy || !token.trim()}>
          Log in
        </button>
      </form>
    </main>
  );
}
