// The dashboard's login is rate limited per client address: LOGIN_ATTEMPTS_PER_MINUTE tries (right or wrong),
// then a coded 429 with Retry-After, even for the right token; another address is not held back, and the
// other routes are not limited by it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inProcess } from './support/api.ts';

const ADMIN = 'admin-token-0123456789abcdef';

test('login: LOGIN_ATTEMPTS_PER_MINUTE tries per address, then 429 COFFRE_E_TOO_MANY_ATTEMPTS with Retry-After', async () => {
  const s = await inProcess({ API_TOKEN: ADMIN, LOGIN_ATTEMPTS_PER_MINUTE: '3' });
  try {
    const login = (token: string, remoteAddress: string) =>
      s.app.inject({ method: 'POST', url: '/api/session', remoteAddress, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token }) });
    for (let i = 0; i < 3; i++) {
      const r = await login(`wrong-${i}`, '192.0.2.10');
      assert.equal(r.statusCode, 401, r.body);
    }
    const held = await login(ADMIN, '192.0.2.10');
    assert.equal(held.statusCode, 429, held.body);
    const body = JSON.parse(held.body);
    assert.equal(body.error.code, 'COFFRE_E_TOO_MANY_ATTEMPTS');
    assert.match(body.error.message, /at most 3 a minute/);
    assert.ok(Number(held.headers['retry-after']) > 0, `Retry-After: ${held.headers['retry-after']}`);
    assert.equal(held.headers['set-cookie'], undefined, 'no session is made while held back');

    const other = await login(ADMIN, '192.0.2.11');
    assert.equal(other.statusCode, 200, other.body);
    assert.match(String(other.headers['set-cookie']), /coffre_session=/);

    // The other routes are not counted: a Bearer call from the held address still answers.
    const plans = await s.app.inject({ method: 'GET', url: '/api/plans', remoteAddress: '192.0.2.10', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(plans.statusCode, 200, plans.body);
  } finally {
    await s.close();
  }
});

test('LOGIN_ATTEMPTS_PER_MINUTE out of range is a coded configuration error', async () => {
  await assert.rejects(inProcess({ LOGIN_ATTEMPTS_PER_MINUTE: '0' }), (err: any) => err.code === 'COFFRE_E_BAD_CONFIG' && /LOGIN_ATTEMPTS_PER_MINUTE/.test(err.message));
});
