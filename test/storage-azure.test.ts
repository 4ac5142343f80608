// The storage contract on the azure backend against azurite (see scripts/storage-servers.sh), plus azure
// settings (one way in: connection string, account key or SAS) and credentials that fail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { azure } from '../src/storage/azure.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { storageContract } from './support/storage-contract.ts';

const PORT = Number(process.env.COFFRE_AZURITE_PORT ?? 10000);
// azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const connectionString = (port: number, key = KEY) => `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${key};BlobEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`;
const container = `coffre-test-${randomBytes(5).toString('hex')}`;
const admin = BlobServiceClient.fromConnectionString(connectionString(PORT)).getContainerClient(container);

function open(port = PORT, extra: Record<string, unknown> = {}) {
  const backend = azure;
  return backend.open(backend.configure({ container, connectionString: connectionString(port), ...extra }));
}

storageContract('azure (azurite)', async () => {
  await admin.create();
  return {
    storage: open(),
    upstream: { host: '127.0.0.1', port: PORT },
    via: (port) => open(port),
    async cleanup() {
      await admin.deleteIfExists();
    },
  };
});

test('azure: uploads are checked by block MD5 and the committed size and MD5', async () => {
  const storage = open();
  const result = await storage.put('checks/one', Readable.from([randomBytes(50_000)]));
  assert.match(result.checksum ?? '', /^md5:[0-9a-f]{32}$/);
  await storage.delete('checks/one');
});

test('azure: account name and key work as well as a connection string', async () => {
  const backend = azure;
  const storage = backend.open(backend.configure({ container, accountName: ACCOUNT, accountKey: KEY, endpoint: `http://127.0.0.1:${PORT}/${ACCOUNT}` }));
  await storage.check();
});

test('azure: settings take exactly one way in, and the environment only when none is given', () => {
  assert.throws(() => azure.configure({ container: 'c-one', connectionString: connectionString(1), sasUrl: 'https://a.blob.core.windows.net/c-one?sig=x' }), /not several/);
  assert.throws(() => azure.configure({ container: 'c-one', accountKey: KEY }), /accountName/);
  assert.throws(() => azure.configure({ container: 'c-one', sasUrl: 'https://a.blob.core.windows.net/c-one' }), /sig=/);
  const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;
  const savedContainer = process.env.AZURE_STORAGE_CONTAINER;
  try {
    process.env.AZURE_STORAGE_CONNECTION_STRING = connectionString(1);
    process.env.AZURE_STORAGE_CONTAINER = 'env-container';
    const settings = azure.configure({});
    assert.equal(settings.config.container, 'env-container');
    assert.equal(settings.secrets.connectionString, connectionString(1));
    assert.ok(!JSON.stringify(settings.config).includes(KEY));
  } finally {
    if (saved === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    else process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
    if (savedContainer === undefined) delete process.env.AZURE_STORAGE_CONTAINER;
    else process.env.AZURE_STORAGE_CONTAINER = savedContainer;
  }
});

test('azure: a wrong account key fails as COFFRE_E_STORAGE_AUTH naming the credential, never its value', async () => {
  const wrongKey = randomBytes(64).toString('base64');
  const storage = open(PORT, { connectionString: connectionString(PORT, wrongKey) });
  await assert.rejects(storage.check(), (err: unknown) => {
    assert.ok(isCoffreError(err));
    assert.equal(err.code, 'COFFRE_E_STORAGE_AUTH');
    assert.match(err.message, /connectionString/);
    assert.ok(!err.message.includes(wrongKey));
    return true;
  });
});

test('azure: a missing container says so', async () => {
  const backend = azure;
  const storage = backend.open(backend.configure({ container: `coffre-missing-${randomBytes(4).toString('hex')}`, connectionString: connectionString(PORT) }));
  await assert.rejects(storage.check(), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_BUCKET_MISSING');
});
