// The storage contract on the gcs backend against fake-gcs-server (a real GCS JSON-API server, from the Go
// module proxy; see scripts/storage-servers.sh), plus gcs settings and the checksums it verifies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Storage as GcsClient } from '@google-cloud/storage';
import { gcs } from '../src/storage/gcs.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { storageContract } from './support/storage-contract.ts';

const PORT = Number(process.env.COFFRE_GCS_PORT ?? 4443);
const bucket = `coffre-test-${randomBytes(5).toString('hex')}`;
const endpoint = (port: number) => `http://127.0.0.1:${port}`;
const admin = new GcsClient({ apiEndpoint: endpoint(PORT), projectId: 'coffre-test' });

function open(port = PORT, extra: Record<string, unknown> = {}) {
  const backend = gcs;
  return backend.open(backend.configure({ bucket, projectId: 'coffre-test', apiEndpoint: endpoint(port), ...extra }));
}

storageContract('gcs (fake-gcs-server)', async () => {
  await admin.createBucket(bucket);
  return {
    storage: open(),
    upstream: { host: '127.0.0.1', port: PORT },
    via: (port) => open(port),
    async cleanup() {
      await admin.bucket(bucket).deleteFiles({ force: true });
      await admin.bucket(bucket).delete();
    },
  };
});

test('gcs: uploads are checked against the service CRC32C and MD5', async () => {
  const storage = open();
  const result = await storage.put('checks/one', Readable.from([randomBytes(50_000)]));
  assert.match(result.checksum ?? '', /crc32c:\S+ md5:[0-9a-f]{32}/);
  await storage.delete('checks/one');
});

test('gcs: settings are validated; the credentials JSON is a secret', () => {
  const credentials = JSON.stringify({
    type: 'service_account',
    client_email: 'x@y.iam.gserviceaccount.com',
    private_key: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n',
  });
  const settings = gcs.configure({ bucket: 'my-bucket', prefix: 'a/b', credentials });
  assert.equal(settings.config.prefix, 'a/b/');
  assert.equal(settings.secrets.credentials, credentials);
  assert.ok(!JSON.stringify(settings.config).includes('PRIVATE KEY'));
  assert.throws(
    () => gcs.configure({ bucket: 'my-bucket', credentials: '{not json' }),
    (err: unknown) => isCoffreError(err) && err.kind === 'usage' && !err.message.includes('{not json'),
  );
  assert.throws(() => gcs.configure({ bucket: 'Bad Bucket!' }), /bucket/);
  if (!process.env.GCP_BUCKET) assert.throws(() => gcs.configure({}), /GCP_BUCKET/);
});

test('gcs: a missing bucket says so', async () => {
  const backend = gcs;
  const storage = backend.open(backend.configure({ bucket: `coffre-missing-${randomBytes(4).toString('hex')}`, projectId: 'coffre-test', apiEndpoint: endpoint(PORT) }));
  await assert.rejects(storage.check(), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_BUCKET_MISSING');
});
