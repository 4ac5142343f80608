// What the API can make this host reach on the network (issue 9, findings 3, 6 and 9), against a real
// `coffre serve` child and the CLI: GCS credentials other than key files (external_account and the like,
// which make the Google library read a file or URL and post it to a token URL of the caller's choosing) are
// refused and nothing is read or sent; errors from a far side (an echo server posing as S3, Azure or a
// database) carry a status and a short code, never its body; MongoDB URL options outside a safe set
// (tlsCertificateKeyFile, authMechanism=MONGODB-AWS/OIDC, ...) are refused from the API with a clear error.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { client, serve, type Served } from './support/api.ts';

const TOKEN = 'far-side-test-token-0123456789';
const MARKER = 'FAR-SIDE-BODY-MARKER-7f3a9c';

let ws: Workspace;
let server: Served;
let api: ReturnType<typeof client>;
let echo: Server;
let echoPort = 0;
const echoHits: string[] = [];
let raw: TcpServer;
let rawPort = 0;

before(async () => {
  ws = await workspace('coffre-sec-far-');
  // Answers every request with a 400 whose body looks like a provider error and carries the marker.
  echo = createServer((req, res) => {
    echoHits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'application/xml', 'x-ms-error-code': 'Leaky' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>${MARKER} the local service's private answer</Message><Detail>${MARKER}</Detail></Error>`,
      );
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
  // A TCP service that greets every connection with text holding the marker, then hangs up (for database clients).
  raw = createTcpServer((s) => {
    s.on('error', () => {});
    s.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\r\n${MARKER}\n`);
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawPort = (raw.address() as { port: number }).port;
  server = await serve(ws, { API_TOKEN: TOKEN });
  api = client(server.url, TOKEN);
});
after(async () => {
  await server?.stop();
  await new Promise<void>((resolve) => echo?.close(() => resolve()));
  await new Promise<void>((resolve) => raw?.close(() => resolve()));
  assert.ok(!server.stderr().includes(MARKER), "the server's log never carries a far side's body");
  await ws?.cleanup();
});

test('finding 3: GCS credentials other than service_account and authorized_user are refused from the API and the CLI, nothing read or fetched', async () => {
  const secretFile = path.join(ws.dataDir, 'secret.key');
  const tokenUrl = `http://127.0.0.1:${echoPort}/token`;
  const refused = [
    {
      type: 'external_account',
      audience: '//iam.googleapis.com/x',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: tokenUrl,
      credential_source: { file: secretFile },
    },
    {
      type: 'external_account',
      audience: '//iam.googleapis.com/x',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: tokenUrl,
      credential_source: { url: `http://127.0.0.1:${echoPort}/metadata` },
    },
    { type: 'external_account_authorized_user', token_url: tokenUrl, refresh_token: 'r', client_id: 'c', client_secret: 's' },
    {
      type: 'impersonated_service_account',
      service_account_impersonation_url: tokenUrl,
      source_credentials: { type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' },
    },
    { client_email: 'x@y.iam.gserviceaccount.com', private_key: 'k' },
    { type: 'service_account', client_email: 'x@y.iam.gserviceaccount.com' },
  ];
  for (const [i, credentials] of refused.entries()) {
    const r = await api('POST', '/api/destinations', {
      name: `g${i}`,
      type: 'gcs',
      bucket: 'bkt',
      apiEndpoint: `http://127.0.0.1:${echoPort}`,
      credentials: JSON.stringify(credentials),
    });
    assert.equal(r.status, 400, `${JSON.stringify(credentials)}: ${r.text}`);
    assert.equal(r.json().error.code, 'COFFRE_E_BAD_GCS_CREDENTIALS');
  }
  const patchable = await api('POST', '/api/destinations', { name: 'g-ok', type: 'gcs', bucket: 'bkt', apiEndpoint: `http://127.0.0.1:${echoPort}` });
  assert.equal(patchable.status, 201, patchable.text);
  const patched = await api('PATCH', '/api/destinations/g-ok', { credentials: JSON.stringify(refused[0]) });
  assert.equal(patched.status, 400, patched.text);
  assert.equal(patched.json().error.code, 'COFFRE_E_BAD_GCS_CREDENTIALS');
  assert.equal((await api('POST', '/api/destinations/g-ok/test')).status, 200);

  const keyFile = path.join(ws.dir, 'external.json');
  await writeFile(keyFile, JSON.stringify(refused[0]));
  const cli = await ws.run(['destination', 'add', 'g-cli', '--type', 'gcs', '--bucket', 'bkt', '--api-endpoint', `http://127.0.0.1:${echoPort}`, '--credentials-file', keyFile]);
  expectCode(cli, 2, 'destination add with external_account credentials');
  assert.match(cli.stderr, /service_account/);
  const fromEnv = await ws.run(['destination', 'add', 'g-env', '--type', 'gcs', '--bucket', 'bkt'], { GOOGLE_APPLICATION_CREDENTIALS: keyFile });
  expectCode(fromEnv, 2, 'destination add with GOOGLE_APPLICATION_CREDENTIALS of type external_account');
  assert.ok(!echoHits.some((h) => h.includes('/token') || h.includes('/metadata')), `no token or metadata URL was fetched: ${echoHits.join(', ')}`);
});

test('finding 6: errors from a far side carry its status and a short code, never its body', async () => {
  const accountKey = Buffer.from('not-a-real-key-0123456789').toString('base64');
  const azure = await api('POST', '/api/destinations', {
    name: 'az-echo',
    type: 'azure',
    container: 'ccc',
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${accountKey};BlobEndpoint=http://127.0.0.1:${echoPort}/devstoreaccount1;`,
  });
  assert.equal(azure.status, 201, azure.text);
  const s3 = await api('POST', '/api/destinations', {
    name: 's3-echo',
    type: 's3',
    bucket: 'bkt',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${echoPort}`,
    allowHttp: true,
    forcePathStyle: true,
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: 'secret-example-0123456789',
  });
  assert.equal(s3.status, 201, s3.text);
  for (const name of ['az-echo', 's3-echo']) {
    const before = echoHits.length;
    const r = await api('POST', `/api/destinations/${name}/test`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().ok, false, r.text);
    assert.ok(echoHits.length > before, `${name} reached the echo server`);
    assert.ok(!r.text.includes(MARKER), `${name}: the body of the far side is not echoed: ${r.text}`);
    assert.match(r.json().error.message, /HTTP 400/, r.text);
    const cli = await ws.run(['destination', 'test', name]);
    assert.notEqual(cli.code, 0);
    assert.ok(!cli.all.includes(MARKER), `coffre destination test ${name}: ${cli.all}`);
  }
  for (const url of [`postgres://u:p@127.0.0.1:${rawPort}/db`, `mysql://u:p@127.0.0.1:${rawPort}/db`, `mongodb://u:p@127.0.0.1:${rawPort}/db?serverSelectionTimeoutMS=2000`]) {
    const name = `t-${url.split(':')[0]}`;
    const t = await api('POST', '/api/sgbd-targets', { name, url });
    assert.equal(t.status, 201, t.text);
    const r = await api('POST', `/api/sgbd-targets/${name}/test`);
    assert.equal(r.json().ok, false, r.text);
    assert.ok(!r.text.includes(MARKER), `${url}: the far side's bytes are not echoed: ${r.text}`);
  }
});

test('finding 9: MongoDB URL options outside the safe set are refused from the API; the CLI may give them', async () => {
  const base = 'mongodb://u:p@127.0.0.1:27017/db';
  for (const q of [
    'tlsCertificateKeyFile=/etc/ssl/private/key.pem',
    'tlsCAFile=/etc/passwd',
    'authMechanism=MONGODB-AWS',
    'authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure',
    'AUTHMECHANISM=mongodb-aws',
    'proxyHost=evil.example',
    'tlsCRLFile=/x',
  ]) {
    const r = await api('POST', '/api/sgbd-targets', { name: 'mongo-bad', url: `${base}?${q}` });
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json().error.code, 'COFFRE_E_MONGO_OPTION_REFUSED', r.text);
    assert.match(r.json().error.message, /not accepted through the API/);
  }
  const ok = await api('POST', '/api/sgbd-targets', {
    name: 'mongo-ok',
    url: `${base}?authSource=admin&authMechanism=SCRAM-SHA-256&tls=false&readPreference=primary&connectTimeoutMS=2000`,
  });
  assert.equal(ok.status, 201, ok.text);
  const patched = await api('PATCH', '/api/sgbd-targets/mongo-ok', { url: `${base}?tlsCertificateKeyFile=/etc/ssl/private/key.pem` });
  assert.equal(patched.status, 400, patched.text);
  const cli = await ws.run([
    'target',
    'add',
    'mongo-x509',
    '--url',
    `mongodb://127.0.0.1:27017/db?tls=true&tlsCertificateKeyFile=${path.join(ws.dir, 'client.pem')}&authMechanism=MONGODB-X509`,
  ]);
  expectCode(cli, 0, "the CLI, with its user's own rights, may give any option");
});
