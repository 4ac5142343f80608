// The storage contract on the s3 backend against a real S3-protocol server (SeaweedFS, or s3rver as a
// fallback; see scripts/storage-servers.sh), plus what is particular to s3: https-only endpoints, the
// integrity check reported in PutResult.checksum, and credentials that fail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { s3 } from '../src/storage/s3.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { storageContract, generated } from './support/storage-contract.ts';
import { removeBucket, s3AdminClient, s3Creds, s3Endpoint, s3Port, s3Server } from './support/s3.ts';

const bucket = `coffre-test-${randomBytes(5).toString('hex')}`;
const admin = s3AdminClient();

function open(port = s3Port, extra: Record<string, unknown> = {}) {
  const backend = s3;
  return backend.open(backend.configure({ bucket, region: 'us-east-1', endpoint: s3Endpoint(port), allowHttp: true, ...s3Creds, ...extra }));
}

storageContract(`s3 (${s3Server})`, async () => {
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    storage: open(),
    upstream: { host: '127.0.0.1', port: s3Port },
    via: (port) => open(port),
    async cleanup() {
      await removeBucket(admin, bucket);
    },
  };
});

test('s3: a plain-http endpoint is refused unless allowHttp', () => {
  assert.throws(
    () => s3.configure({ bucket: 'b-ok', endpoint: 'http://127.0.0.1:1', ...s3Creds }),
    (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_INSECURE_ENDPOINT',
  );
  assert.doesNotThrow(() => s3.configure({ bucket: 'b-ok', endpoint: 'https://s3.example.com', ...s3Creds }));
  assert.doesNotThrow(() => s3.configure({ bucket: 'b-ok', endpoint: 'http://127.0.0.1:1', allowHttp: 'true', ...s3Creds }));
});

test('s3: settings are validated and secrets kept apart; env fallbacks fill what is missing', () => {
  const settings = s3.configure({ bucket: 'my-bucket', prefix: '/backups/prod/', storageClass: 'STANDARD_IA', serverSideEncryption: 'AES256', ...s3Creds });
  assert.equal(settings.config.prefix, 'backups/prod/');
  assert.deepEqual(Object.keys(settings.secrets).sort(), ['accessKeyId', 'secretAccessKey']);
  assert.ok(!JSON.stringify(settings.config).includes(s3Creds.secretAccessKey));
  assert.throws(() => s3.configure({ bucket: 'my-bucket', serverSideEncryption: 'rot13' }), /serverSideEncryption/);
  assert.throws(() => s3.configure({ bucket: 'my-bucket', accessKeyId: 'only-one' }), /secretAccessKey/);
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { AWS_BUCKET: 'env-bucket', AWS_REGION: 'eu-west-3', AWS_ACCESS_KEY_ID: 'env-id', AWS_SECRET_ACCESS_KEY: 'env-secret' });
    const fromEnv = s3.configure({});
    assert.equal(fromEnv.config.bucket, 'env-bucket');
    assert.equal(fromEnv.config.region, 'eu-west-3');
    assert.equal(fromEnv.secrets.secretAccessKey, 'env-secret');
  } finally {
    for (const k of ['AWS_BUCKET', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  if (!process.env.AWS_BUCKET)
    assert.throws(
      () => s3.configure({}),
      (err: unknown) => isCoffreError(err) && err.kind === 'usage' && /bucket/.test(err.message),
    );
});

test('s3: a multipart upload reports which integrity check ran', async () => {
  const storage = open();
  const single = await storage.put('checks/single', Readable.from([Buffer.from('hello')]));
  const multi = await storage.put('checks/multi', generated(20 * 1024 * 1024));
  assert.match(single.checksum ?? '', /^(sha256|md5):/);
  assert.match(multi.checksum ?? '', /^(sha256-composite:.+-3|md5-multipart:[0-9a-f]{32}-3|md5:[0-9a-f]{32})$/); // s3rver keeps a whole-object MD5
  if (s3Server === 'seaweedfs') assert.match(multi.checksum ?? '', /^sha256-composite:/);
  await storage.delete('checks/single');
  await storage.delete('checks/multi');
});

test("s3: deleting a key also aborts its unfinished multipart uploads (left by a cut connection), and no other key's", async () => {
  const storage = open();
  const started = async (Key: string) => {
    const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    await admin.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: randomBytes(5 * 1024 * 1024) }));
    return UploadId;
  };
  const pending = async () => ((await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'cut/' }))).Uploads ?? []).map((u) => u.Key).sort();
  await started('cut/run-1');
  await started('cut/run-1');
  const other = await started('cut/run-10'); // shares the prefix, not the key
  assert.deepEqual(await pending(), ['cut/run-1', 'cut/run-1', 'cut/run-10']);
  await storage.delete('cut/run-1');
  assert.deepEqual(await pending(), ['cut/run-10']);
  await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'cut/run-10', UploadId: other }));
});

test('s3: a wrong secret fails as COFFRE_E_STORAGE_AUTH naming the credential, never its value', async () => {
  const wrong = `definitely-not-the-secret-${randomBytes(4).toString('hex')}`;
  const storage = open(s3Port, { secretAccessKey: wrong });
  await assert.rejects(storage.stat('anything'), (err: unknown) => {
    assert.ok(isCoffreError(err));
    assert.equal(err.code, 'COFFRE_E_STORAGE_AUTH');
    assert.equal(err.retryable, false);
    assert.match(err.message, /secretAccessKey/);
    assert.ok(!err.message.includes(wrong));
    return true;
  });
  const badId = open(s3Port, { accessKeyId: 'no-such-key-id' });
  await assert.rejects(badId.check(), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_AUTH' && /accessKeyId/.test(err.message));
});

test('s3: a missing bucket says so', async () => {
  const backend = s3;
  const storage = backend.open(backend.configure({ bucket: `coffre-missing-${randomBytes(4).toString('hex')}`, endpoint: s3Endpoint(s3Port), allowHttp: true, ...s3Creds }));
  await assert.rejects(storage.check(), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_BUCKET_MISSING');
});
