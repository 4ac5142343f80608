// Cloud destinations end to end, through the real CLI against the protocol servers of
// scripts/storage-servers.sh (SeaweedFS S3 on :8333, fake-gcs-server on :4443, azurite on :10000) and a real
// SQLite database: one plan uploading to local + S3 + Azure + GCS, every copy verified and journaled;
// restore from S3 once the local copy is gone; a destination on a closed port makes the run `partial`
// (the journal names the failed copy) while the good copy restores; a connection cut mid-upload leaves no
// `success` row and no visible object; `coffre reindex` rebuilds a lost catalog from a destination; secrets
// never appear in output, in API answers, or in clear in the catalog file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { Storage as GcsClient } from '@google-cloud/storage';
import { workspace, expectCode, type Workspace, type CliResult } from './support/cli.ts';
import { cuttableProxy } from './support/storage-contract.ts';
import { inProcess } from './support/api.ts';
import { sqliteFingerprint, blobDatabase } from './support/sqlite.ts';
import { removeBucket, s3AdminClient, s3CredentialEnv, s3Creds, s3DestinationFlags, s3Endpoint, s3Port } from './support/s3.ts';

const AZ_ACCOUNT = 'devstoreaccount1';
const AZ_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const azConnection = `DefaultEndpointsProtocol=http;AccountName=${AZ_ACCOUNT};AccountKey=${AZ_KEY};BlobEndpoint=http://127.0.0.1:10000/${AZ_ACCOUNT};`;
const GCS_ENDPOINT = 'http://127.0.0.1:4443';

const suffix = randomBytes(4).toString('hex');
const bucket = `coffre-cloud-${suffix}`;
const container = `coffre-cloud-${suffix}`;
const gcsBucket = `coffre-cloud-${suffix}`;
const s3Admin = s3AdminClient();
const azAdmin = BlobServiceClient.fromConnectionString(azConnection).getContainerClient(container);
const gcsAdmin = new GcsClient({ apiEndpoint: GCS_ENDPOINT, projectId: 'coffre-test' });

/** Secret values given as env vars to the CLI (never on argv except where the warning is tested). */
const secretEnv = { ...s3CredentialEnv, T_AZ_CS: azConnection };
const ENCRYPTION_SECRET = `cloud-test-${randomBytes(16).toString('hex')}`;

let ws: Workspace;

async function s3Keys(prefix: string): Promise<string[]> {
  const page = await s3Admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}

async function run(w: Workspace, args: string[], code = 0): Promise<CliResult> {
  const r = await w.run(args, { ...secretEnv, ENCRYPTION_SECRET });
  expectCode(r, code, `coffre ${args.join(' ')}`);
  return r;
}

async function addS3(w: Workspace, name: string, extra: string[] = []): Promise<void> {
  await run(w, ['destination', 'add', name, ...s3DestinationFlags(bucket, `p-${name}`), ...extra]);
}

interface Copy {
  destination: string;
  type: string;
  key: string;
  status: string;
  sizeBytes: number | null;
  checksum: string | null;
  message: string | null;
}
interface Row {
  id: string;
  status: string;
  message: string | null;
  sizeBytes: number;
  sha256: string;
  artifact: string;
  copies: Copy[];
}

before(async () => {
  await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
  await azAdmin.create();
  await gcsAdmin.createBucket(gcsBucket);
  ws = await workspace('coffre-cloud-');
  blobDatabase(path.join(ws.dir, 'small.db'), 300, 64);
  await run(ws, ['target', 'add', 'small', '--url', `sqlite:${path.join(ws.dir, 'small.db')}`]);
  await run(ws, ['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]);
  await addS3(ws, 's3');
  await run(ws, ['destination', 'add', 'az', '--type', 'azure', '--container', container, '--prefix', 'coffre', '--connection-string-env', 'T_AZ_CS']);
  await run(ws, ['destination', 'add', 'gc', '--type', 'gcs', '--bucket', gcsBucket, '--prefix', 'coffre', '--project', 'coffre-test', '--api-endpoint', GCS_ENDPOINT]);
});

after(async () => {
  await removeBucket(s3Admin, bucket);
  await azAdmin.deleteIfExists();
  await gcsAdmin.bucket(gcsBucket).deleteFiles({ force: true });
  await gcsAdmin.bucket(gcsBucket).delete();
  await ws?.cleanup();
});

let full: Row;

test('a plan with local + S3 + Azure + GCS: dump once, every copy uploaded, checked, journaled, with its manifest', async () => {
  await run(ws, [
    'plan',
    'add',
    'multi',
    '--target',
    'small',
    '--destination',
    'disk',
    '--destination',
    's3',
    '--destination',
    'az',
    '--destination',
    'gc',
    '--compression',
    'zstd',
  ]);
  const plan = (await run(ws, ['plan', 'list', '--json'])).json<Array<{ name: string; destinations: string[] }>>().find((p) => p.name === 'multi')!;
  assert.deepEqual(plan.destinations, ['disk', 's3', 'az', 'gc']);

  full = (await run(ws, ['backup', 'multi', '--json'])).json<Row>();
  assert.equal(full.status, 'success', full.message ?? '');
  assert.deepEqual(
    full.copies.map((c) => [c.destination, c.status]),
    [
      ['disk', 'success'],
      ['s3', 'success'],
      ['az', 'success'],
      ['gc', 'success'],
    ],
  );
  for (const c of full.copies) {
    assert.equal(c.sizeBytes, full.sizeBytes, `${c.destination} size`);
    assert.equal(c.key, full.artifact);
    assert.ok(c.checksum, `${c.destination} has the checksum it was verified with`);
  }
  assert.match(full.copies.find((c) => c.destination === 'gc')!.checksum!, /crc32c:|md5:/);
  assert.match(full.copies.find((c) => c.destination === 'az')!.checksum!, /md5/);

  // Each destination holds the artifact and its manifest, under its own prefix.
  assert.deepEqual(await s3Keys(`p-s3/${full.artifact}`), [`p-s3/${full.artifact}`, `p-s3/${full.artifact}.manifest.json`]);
  const azNames: string[] = [];
  for await (const b of azAdmin.listBlobsFlat({ prefix: 'coffre/' })) azNames.push(b.name);
  assert.deepEqual(azNames.sort(), [`coffre/${full.artifact}`, `coffre/${full.artifact}.manifest.json`]);
  const [gcsFiles] = await gcsAdmin.bucket(gcsBucket).getFiles({ prefix: 'coffre/' });
  assert.deepEqual(gcsFiles.map((f) => f.name).sort(), [`coffre/${full.artifact}`, `coffre/${full.artifact}.manifest.json`]);
  assert.ok(existsSync(path.join(ws.dir, 'backups', `${full.artifact}.manifest.json`)));

  // The journal shows the same copies.
  const journal = (await run(ws, ['journal', '--json'])).json<Row[]>();
  assert.deepEqual(
    journal.find((r) => r.id === full.id)!.copies.map((c) => c.status),
    ['success', 'success', 'success', 'success'],
  );
  const table = (await run(ws, ['journal'])).stdout;
  assert.match(table, /4\/4/);
  const verified = (await run(ws, ['verify', full.id, '--json'])).json<Row>();
  assert.equal(verified.status, 'success');
  assert.match(verified.message!, /all 4 copies checked: disk, /, 'verify reads the local copy first, then checks every other copy');
  for (const name of ['s3', 'az', 'gc']) assert.match(verified.message!, new RegExp(`checked: .*\\b${name}\\b`));
});

test('restore from S3 when the local copy was deleted; verify names the missing copy and the intact one', async () => {
  rmSync(path.join(ws.dir, 'backups', full.artifact));
  const verify = await run(ws, ['verify', full.id, '--json'], 1);
  const verified = verify.json<Row>();
  assert.equal(verified.status, 'failed', 'a copy that is gone fails verification');
  assert.match(verified.message!, /1 of 4 copies fail verification \(disk: No object .*\); the copy on (s3|az|gc) is intact/);
  await run(ws, ['target', 'add', 'restored1', '--url', `sqlite:${path.join(ws.dir, 'restored1.db')}`]);
  const r = (await run(ws, ['restore', full.id, '--to', 'restored1', '--json'])).json<{ status: string }>();
  assert.equal(r.status, 'success');
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'restored1.db')), sqliteFingerprint(path.join(ws.dir, 'small.db')));
});

test('a destination on a closed port: the run is partial, the journal names the failed copy, the good copy restores', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await run(ws, ['destination', 'add', 'dead', ...s3DestinationFlags(bucket, undefined, port)]);
  await run(ws, ['plan', 'add', 'half', '--target', 'small', '--destination', 'disk', '--destination', 'dead']);
  const res = await run(ws, ['backup', 'half', '--json'], 1);
  const row = res.json<Row>();
  assert.equal(row.status, 'partial');
  assert.match(row.message!, /Reached 1 of 2 destinations: dead failed/);
  assert.deepEqual(
    row.copies.map((c) => [c.destination, c.status]),
    [
      ['disk', 'success'],
      ['dead', 'failed'],
    ],
  );
  assert.match(row.copies[1].message!, /refused|connect|ECONNREFUSED/i);
  assert.match(res.stderr, /partial/);
  const table = (await run(ws, ['journal', '--plan', 'half'])).stdout;
  assert.match(table, /partial\s+1\/2 dead:failed/);
  // The copy that landed is complete and restorable.
  await run(ws, ['target', 'add', 'restored2', '--url', `sqlite:${path.join(ws.dir, 'restored2.db')}`]);
  await run(ws, ['restore', row.id, '--to', 'restored2']);
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'restored2.db')), sqliteFingerprint(path.join(ws.dir, 'small.db')));
});

test('a connection cut mid-upload: the run fails, no success row, no visible object on the far side', async () => {
  blobDatabase(path.join(ws.dir, 'big.db'), 24, 1024 * 1024); // ~24 MiB of random bytes: a multipart upload
  await run(ws, ['target', 'add', 'big', '--url', `sqlite:${path.join(ws.dir, 'big.db')}`]);
  const proxy = await cuttableProxy({ host: '127.0.0.1', port: s3Port });
  await run(ws, ['destination', 'add', 'cut', ...s3DestinationFlags(bucket, 'p-cut', proxy.port)]);
  await run(ws, ['plan', 'add', 'cutplan', '--target', 'big', '--destination', 'cut', '--compression', 'none']);
  const child = ws.start(['backup', 'cutplan', '--json'], { ...secretEnv, ENCRYPTION_SECRET });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const first = await Promise.race([proxy.whenForwarded(10 * 1024 * 1024).then(() => 'forwarded'), exited.then(() => 'exited')]);
  assert.equal(first, 'forwarded', `the backup ended before the cut: ${stdout}`);
  proxy.cut();
  const code = await exited;
  assert.equal(code, 1, stdout);
  const row = JSON.parse(stdout) as Row;
  assert.equal(row.status, 'failed');
  assert.equal(row.copies[0].status, 'failed');
  const rows = (await run(ws, ['journal', '--plan', 'cutplan', '--json'])).json<Row[]>();
  assert.ok(
    rows.every((r) => r.status !== 'success'),
    'no success row',
  );
  assert.deepEqual(await s3Keys('p-cut/'), [], 'no visible object');
});

test('an incremental chain kept only on S3 restores and verifies with each link downloaded once', async () => {
  const file = path.join(ws.dir, 'chain.db');
  blobDatabase(file, 64, 16 * 1024); // ~1 MiB of random bytes: each link is mostly incompressible
  await run(ws, ['target', 'add', 'chain', '--url', `sqlite:${file}`]);
  const proxy = await cuttableProxy({ host: '127.0.0.1', port: s3Port });
  try {
    await addS3(ws, 'chain', ['--endpoint', `http://127.0.0.1:${proxy.port}`]);
    await run(ws, ['plan', 'add', 'chainplan', '--target', 'chain', '--destination', 'chain', '--compression', 'none', '--kind', 'incremental']);
    const rows: Row[] = [];
    for (let step = 0; step < 3; step++) {
      if (step > 0) {
        const db = new DatabaseSync(file);
        db.prepare('insert into t (b) values (?)').run(randomBytes(64 * 1024));
        db.close();
      }
      rows.push((await run(ws, ['backup', 'chainplan', '--json'])).json<Row>());
    }
    assert.deepEqual(
      rows.map((r) => (r as Row & { kind: string }).kind),
      ['full', 'incremental', 'incremental'],
    );
    const chainBytes = rows.reduce((n, r) => n + r.sizeBytes, 0);
    await run(ws, ['target', 'add', 'chain-back', '--url', `sqlite:${path.join(ws.dir, 'chain-back.db')}`]);
    for (const args of [
      ['restore', rows[2].id, '--to', 'chain-back'],
      ['verify', rows[2].id],
    ]) {
      const before = proxy.returned;
      await run(ws, args);
      const downloaded = proxy.returned - before;
      assert.ok(downloaded >= chainBytes, `${args[0]}: read ${downloaded} bytes of a ${chainBytes}-byte chain`);
      assert.ok(downloaded < chainBytes * 1.25, `${args[0]}: downloaded ${downloaded} bytes for a ${chainBytes}-byte chain: some link was read twice`);
    }
    assert.equal(sqliteFingerprint(path.join(ws.dir, 'chain-back.db')), sqliteFingerprint(file));
  } finally {
    proxy.cut();
  }
});

test('destination edit rotates an S3 secret: a wrong one fails `destination test` naming the credential, the right one works again', async () => {
  await addS3(ws, 'rotating');
  const wrong = `wrong-${randomBytes(6).toString('hex')}`;
  expectCode(
    await ws.run(['destination', 'edit', 'rotating', '--secret-access-key-env', 'T_WRONG'], { ...secretEnv, ENCRYPTION_SECRET, T_WRONG: wrong }),
    0,
    'edit to a wrong secret',
  );
  const failed = await run(ws, ['destination', 'test', 'rotating', '--json'], 1);
  assert.match(failed.stderr, /COFFRE_E_STORAGE_AUTH/);
  assert.match(failed.stderr, /secretAccessKey/);
  assert.ok(!failed.all.includes(wrong), 'the secret itself is never printed');
  await run(ws, ['destination', 'edit', 'rotating', '--secret-access-key-env', 'T_S3_SECRET']);
  await run(ws, ['destination', 'test', 'rotating']);
  const listed = (await run(ws, ['destination', 'list', '--json'])).stdout;
  assert.ok(!listed.includes(s3Creds.secretAccessKey) && !listed.includes(wrong), 'no secret in the listing');
});

test('reindex: a lost catalog is rebuilt from the S3 destination and a backup restores from it; orphans are not imported', async () => {
  await s3Admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'p-s3/multi/stray-no-manifest.bin', Body: 'not a backup' }));
  const fresh = await workspace('coffre-cloud-reindex-');
  try {
    await addS3(fresh, 's3');
    const report = (await run(fresh, ['reindex', 's3', '--json'])).json<{ imported: Array<{ id: string }>; orphans: Array<{ key: string }>; skipped: unknown[] }>();
    assert.deepEqual(
      report.imported.map((i) => i.id),
      [full.id],
    );
    assert.deepEqual(
      report.orphans.map((o) => o.key),
      ['multi/stray-no-manifest.bin'],
    );
    const again = (await run(fresh, ['reindex', 's3', '--json'])).json<{ imported: unknown[]; skipped: Array<{ id: string }> }>();
    assert.deepEqual(again.imported, []);
    assert.deepEqual(
      again.skipped.map((i) => i.id),
      [full.id],
    );
    const rows = (await run(fresh, ['journal', '--json'])).json<Row[]>();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].sha256, full.sha256);
    await run(fresh, ['target', 'add', 'back', '--url', `sqlite:${path.join(fresh.dir, 'back.db')}`]);
    await run(fresh, ['restore', full.id, '--to', 'back']);
    assert.equal(sqliteFingerprint(path.join(fresh.dir, 'back.db')), sqliteFingerprint(path.join(ws.dir, 'small.db')));
  } finally {
    await fresh.cleanup();
  }
});

test('secrets: never printed (destination list, journal, API GET), warned about on argv, and not in clear in the catalog', async () => {
  const direct = await run(ws, [
    'destination',
    'add',
    'argv',
    '--type',
    's3',
    '--bucket',
    bucket,
    '--endpoint',
    s3Endpoint(),
    '--allow-http',
    '--access-key-id',
    s3Creds.accessKeyId,
    '--secret-access-key',
    s3Creds.secretAccessKey,
  ]);
  assert.match(direct.stderr, /--secret-access-key on the command line is visible/);
  await run(ws, ['destination', 'test', 'argv']);
  const list = await run(ws, ['destination', 'list', '--json']);
  await run(ws, ['destination', 'list']);
  await run(ws, ['journal', '--json']);
  const secrets = [s3Creds.secretAccessKey, AZ_KEY, azConnection];
  for (const out of ws.transcript) for (const s of secrets) assert.ok(!out.includes(s), `a secret was printed: ${out.slice(0, 200)}`);
  assert.ok(list.json<Array<{ name: string }>>().some((d) => d.name === 'az'));
  const dataFiles = readdirSync(ws.dataDir).filter((f) => f.startsWith('coffre.db'));
  assert.ok(dataFiles.length > 0);
  for (const f of dataFiles) {
    const bytes = readFileSync(path.join(ws.dataDir, f));
    for (const s of secrets) assert.ok(!bytes.includes(Buffer.from(s)), `${f} holds a secret in clear`);
  }

  const api = await inProcess();
  try {
    const created = await api.call('POST', '/api/destinations', { body: { name: 'api-az', type: 'azure', container, connectionString: azConnection } });
    assert.equal(created.status, 201, created.text);
    const s3 = await api.call('POST', '/api/destinations', {
      body: {
        name: 'api-s3',
        type: 's3',
        bucket,
        endpoint: s3Endpoint(),
        allowHttp: true,
        accessKeyId: s3Creds.accessKeyId,
        secretAccessKey: s3Creds.secretAccessKey,
      },
    });
    assert.equal(s3.status, 201, s3.text);
    const bad = await api.call('POST', '/api/destinations', {
      body: { name: 'api-bad', type: 's3', bucket, endpoint: 'http://s3.example.com', accessKeyId: s3Creds.accessKeyId, secretAccessKey: s3Creds.secretAccessKey },
    });
    assert.equal(bad.status, 400);
    const tested = await api.call('POST', `/api/destinations/api-s3/test`);
    assert.equal(tested.json().ok, true, tested.text);
    for (const reply of [created, s3, await api.call('GET', '/api/destinations'), await api.call('GET', '/api/destinations/api-az'), tested]) {
      for (const s of secrets) assert.ok(!reply.text.includes(s), `an API answer holds a secret: ${reply.text.slice(0, 200)}`);
    }
  } finally {
    await api.close();
  }
});
