import { useState } from 'preact/hooks';
import { api, can, type Session } from '../api.ts';
import { when } from '../format.ts';
import { ErrorBox, Field, Section, useLoad } from '../ui.tsx';

export function Tokens({ session }: { session: Session }) {
  const tokens = useLoad(() => api('GET', '/api/tokens'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [made, setMade] = useState<any>();
  const [error, setError] = useState<any>();
  if (!can(session, 'admin')) return <p>Tokens are managed by admins.</p>;
  return (
    <>
      <h1>Tokens</h1>
      <p class="hint">viewer reads; operator also runs backups, restores and verifications; admin also changes configuration and tokens.</p>
      <Section title="New token">
        <form
          class="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(undefined);
            try {
              setMade(await api('POST', '/api/tokens', { name, role }));
              setName('');
              tokens.reload();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <Field label="Name" name="name" errors={error?.fields}>
            {(id) => <input id={id} value={name} onInput={(e) => setName(e.currentTarget.value)} required />}
          </Field>
          <Field label="Role" name="role" errors={error?.fields}>
            {(id) => (
              <select id={id} value={role} onChange={(e) => setRole(e.currentTarget.value)}>
                <option value="viewer">viewer</option>
                <option value="operator">operator</option>
                <option value="admin">admin</option>
              </select>
            )}
          </Field>
          <button type="submit">Create token</button>
        </form>
        <ErrorBox error={error} />
        {made ? (
          <div class="made" role="status">
            <p>
              Token <strong>{made.name}</strong> ({made.role}): copy it now, it is not shown again.
            </p>
            <code class="secret-once">{made.token}</code>
            <button type="button" class="small secondary" onClick={() => setMade(undefined)}>
              Done
            </button>
          </div>
        ) : null}
      </Section>
      <ErrorBox error={tokens.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Hint</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Revoked</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tokens.data?.map((t: any) => (
              <tr>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>
                  <code>{t.hint}</code>
                </td>
                <td>{when(t.createdAt)}</td>
                <td>{when(t.lastUsedAt)}</td>
                <td>{when(t.revokedAt)}</td>
                <td>
                  {!t.revokedAt ? (
                    <button
                      type="button"
                      class="small danger"
                      onClick={async () => {
                        if (!confirm(`Revoke token "${t.name}"? Its sessions end with it.`)) return;
                        await api('DELETE', `/api/tokens/${t.id}`).catch(setError);
                        tokens.reload();
                      }}
                    >
                      Revoke<span class="sr-only"> {t.name}</span>
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
