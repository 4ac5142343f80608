// Upload throughput of a ~200 MB file to each storage protocol server (SeaweedFS S3, fake-gcs-server,
// azurite), against writing the same file to local disk (read, write, fsync). Prints MB/s and the ratio
// to local disk. Needs the servers of scripts/storage-servers.sh. Figures, not a timed test.
//   node bench/storage-upload.ts [sizeMiB]

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { S3Client, CreateBucketCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { Storage as GcsClient } from '@google-cloud/storage';
import { BlobServiceClient } from '@azure/storage-blob';
import { configureStorage, openStorage } from '../src/storage/index.ts';
import type { Storage } from '../src/core/types.ts';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 200) * MiB;
const STATE = process.env.COFFRE_TEST_STATE ?? '/tmp/coffre-test-services';
const s3Server = await readFile(`${STATE}/s3-server`, 'utf8').then(
  (s) => s.trim(),
  () => 'seaweedfs',
);
const s3Creds = s3Server === 's3rver' ? { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } : { accessKeyId: 'coffre-test-key', secretAccessKey: 'coffre-test-secret' };
const azureCs =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;';

const dir = await mkdtemp(path.join(tmpdir(), 'coffre-bench-storage-'));
const source = path.join(dir, 'artifact.bin');
{
  // Incompressible-looking data, distinct per MiB.
  const base = randomBytes(MiB);
  const out = createWriteStream(source);
  for (let i = 0; i < size / MiB; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32BE(i, 0);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const rate = (seconds: number) => size / MiB / seconds;
const results: Array<{ name: string; seconds: number }> = [];

results.push({
  name: 'local disk (write + fsync)',
  seconds: await timed(async () => {
    const dest = path.join(dir, 'copy.bin');
    await pipeline(createReadStream(source), createWriteStream(dest));
    const fh = await open(dest, 'r+');
    await fh.sync();
    await fh.close();
  }),
});

async function upload(name: string, storage: Storage): Promise<void> {
  const key = `bench/${randomBytes(4).toString('hex')}.bin`;
  const seconds = await timed(() => storage.put(key, createReadStream(source)));
  await storage.delete(key);
  results.push({ name, seconds });
}

const bucket = `coffre-bench-${randomBytes(4).toString('hex')}`;
const openDestination = async (type: string, input: Record<string, unknown>) => openStorage(type, await configureStorage(type, input));

const s3Admin = new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:8333', forcePathStyle: true, credentials: s3Creds });
await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
await upload(`s3 (${s3Server})`, await openDestination('s3', { bucket, endpoint: 'http://127.0.0.1:8333', allowHttp: true, ...s3Creds }));
await s3Admin.send(new DeleteBucketCommand({ Bucket: bucket }));

const gcsAdmin = new GcsClient({ apiEndpoint: 'http://127.0.0.1:4443', projectId: 'coffre-bench' });
await gcsAdmin.createBucket(bucket);
await upload('gcs (fake-gcs-server)', await openDestination('gcs', { bucket, apiEndpoint: 'http://127.0.0.1:4443', projectId: 'coffre-bench' }));
await gcsAdmin.bucket(bucket).delete();

const container = BlobServiceClient.fromConnectionString(azureCs).getContainerClient(bucket);
await container.create();
await upload('azure (azurite)', await openDestination('azure', { container: bucket, connectionString: azureCs }));
await container.delete();

await rm(dir, { recursive: true, force: true });

const local = results[0];
console.log(`upload of a ${size / MiB} MiB file (put() with size and checksum verification), against local disk:`);
for (const r of results) {
  console.log(`  ${r.name.padEnd(30)} ${rate(r.seconds).toFixed(1).padStart(8)} MB/s   ${(rate(r.seconds) / rate(local.seconds)).toFixed(2)}x local`);
}
