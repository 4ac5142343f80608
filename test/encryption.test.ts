// Encrypted backups end to end, through the real CLI, the real `age` CLI, SQLite and PostgreSQL databases
// and the SeaweedFS S3 server of scripts/storage-servers.sh: keys made by `coffre key generate`, plans
// encrypted to several recipients (each identity alone opens the artifact, with age -d and with coffre),
// restores and verifies with and without the right identity, files encrypted by `age -r` restored with
// `coffre restore --file`, damaged age files refused with the target untouched and no plaintext left on
// disk, an encrypted incremental chain on S3 restored and verified, recipients changed between backups,
// an identity kept in the catalog for unattended runs, and the API's plan and journal fields.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { workspace, expectCode, type Workspace, type CliResult } from './support/cli.ts';
import { connectionTo, dropDatabase, uniqueName, withClient } from './support/postgres.ts';
import { inProcess, waitJob } from './support/api.ts';
import { sqliteFingerprint, blobDatabase } from './support/sqlite.ts';
import { removeBucket, s3AdminClient, s3CredentialEnv, s3DestinationFlags } from './support/s3.ts';

const bucket = `coffre-age-${randomBytes(4).toString('hex')}`;
const s3Admin = s3AdminClient();
const env = { ...s3CredentialEnv, ENCRYPTION_SECRET: `age-test-${randomBytes(16).toString('hex')}` };

let ws: Workspace;
const pgDatabases: string[] = [];

interface Row {
  id: string;
  status: string;
  kind: string;
  message: string | null;
  artifact: string;
  sha256: string;
  rawSha256: string;
  recipients: string[];
  parentId: string | null;
}
interface Key {
  file: string;
  recipient: string;
  secret: string;
}

async function run(args: string[], code = 0, extraEnv: Record<string, string> = {}): Promise<CliResult> {
  const r = await ws.run(args, { ...env, ...extraEnv });
  expectCode(r, code, `coffre ${args.join(' ')}`);
  return r;
}

async function newKey(name: string): Promise<Key> {
  const file = path.join(ws.dir, `${name}.key`);
  const r = await run(['key', 'generate', '--out', file]);
  const recipient = /Public key: (age1[a-z0-9]+)/.exec(r.stdout)![1];
  const secret = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
  return { file, recipient, secret };
}

/** Files left under DATA_DIR/tmp (private temporary folders of runs): a finished run leaves none. */
function tempLeftovers(): string[] {
  const tmp = path.join(ws.dataDir, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp, { recursive: true }).map(String) : [];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const age = (args: string[], input?: Buffer) => execFileSync('age', args, { input, maxBuffer: 1 << 28 });

let keys: { ops: Key; recovery: Key; stranger: Key };

before(async () => {
  await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
  ws = await workspace('coffre-age-e2e-');
  keys = { ops: await newKey('ops'), recovery: await newKey('recovery'), stranger: await newKey('stranger') };
  blobDatabase(path.join(ws.dir, 'shop.db'), 400, 1500); // ~700 KB of incompressible rows: many 64 KiB chunks
  await run(['target', 'add', 'shop', '--url', `sqlite:${path.join(ws.dir, 'shop.db')}`]);
  await run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]);
  await run(['destination', 'add', 's3', ...s3DestinationFlags(bucket, 'enc')]);
});

after(async () => {
  await removeBucket(s3Admin, bucket);
  for (const db of pgDatabases) await dropDatabase(connectionTo(db));
  await ws?.cleanup();
});

test('coffre key generate: an age-keygen identity file (0600, "# public key:" comment) whose recipient it prints; never overwrites', async () => {
  assert.equal(statSync(keys.ops.file).mode & 0o777, 0o600);
  assert.match(readFileSync(keys.ops.file, 'utf8'), new RegExp(`^# created: \\S+\\n# public key: ${keys.ops.recipient}\\nAGE-SECRET-KEY-1[A-Z0-9]{58}\\n$`));
  assert.equal(execFileSync('age-keygen', ['-y', keys.ops.file], { encoding: 'utf8' }).trim(), keys.ops.recipient);
  const again = await run(['key', 'generate', '--out', keys.ops.file], 2);
  assert.match(again.stderr, /already exists/);
  // Without --out the identity goes to stdout, as age-keygen does.
  const printed = await run(['key', 'generate']);
  assert.match(printed.stdout, /^# created: .+\n# public key: age1[a-z0-9]{58}\nAGE-SECRET-KEY-1/);
});

let encrypted: Row;

test('an encrypted plan: compressed then encrypted to two recipients; age -d with either identity | zstd -d gives the dump; journal and manifest name the recipients only', async () => {
  const list = path.join(ws.dir, 'recipients.txt');
  writeFileSync(list, `# offline recovery key\n\n${keys.recovery.recipient}\n`);
  const added = await run([
    'plan',
    'add',
    'enc',
    '--target',
    'shop',
    '--destination',
    'disk',
    '--compression',
    'zstd',
    '--encrypt-to',
    keys.ops.recipient,
    '--encrypt-to-file',
    list,
    '--json',
  ]);
  assert.deepEqual(added.json<{ encryptTo: string[] }>().encryptTo, [keys.ops.recipient, keys.recovery.recipient]);
  encrypted = (await run(['backup', 'enc', '--json'])).json<Row>();
  assert.equal(encrypted.status, 'success', encrypted.message ?? '');
  assert.deepEqual(encrypted.recipients, [keys.ops.recipient, keys.recovery.recipient]);
  assert.match(encrypted.artifact, /\.sqlite\.zst\.age$/);
  const file = path.join(ws.dir, 'backups', encrypted.artifact);
  const stored = readFileSync(file);
  assert.equal(stored.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
  assert.equal(sha256(stored), encrypted.sha256, "the stored sha256 is the encrypted file's");
  for (const k of [keys.ops, keys.recovery]) {
    const dump = execFileSync('zstd', ['-d', '-c'], { input: age(['-d', '-i', k.file, file]), maxBuffer: 1 << 28 });
    assert.equal(sha256(dump), encrypted.rawSha256, `age -d -i ${path.basename(k.file)} | zstd -d is the raw dump`);
  }
  assert.notEqual(spawnStatus('age', ['-d', '-i', keys.stranger.file, '-o', '/dev/null', file]), 0);
  const manifest = readFileSync(`${file}.manifest.json`, 'utf8');
  assert.deepEqual(JSON.parse(manifest).encryption, { format: 'age-v1', recipients: [keys.ops.recipient, keys.recovery.recipient] });
  for (const k of Object.values(keys)) assert.ok(!manifest.includes(k.secret) && !ws.transcript.join('').includes(k.secret.slice(16)), 'no identity in the manifest or any output');
  const journal = await run(['journal', '--plan', 'enc']);
  assert.match(journal.stdout, /ENCRYPTED TO/);
  assert.ok(journal.stdout.includes(keys.ops.recipient.slice(0, 12)));
});

function spawnStatus(cmd: string, args: string[]): number | null {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return 0;
  } catch (err) {
    return (err as { status: number | null }).status;
  }
}

test('gzip artifacts open with age -d and node zlib; each identity alone restores; no or a wrong identity is exit 2 naming the recipients', async () => {
  await run([
    'plan',
    'add',
    'enc-gz',
    '--target',
    'shop',
    '--destination',
    'disk',
    '--compression',
    'gzip',
    '--encrypt-to',
    keys.ops.recipient,
    '--encrypt-to',
    keys.recovery.recipient,
  ]);
  const b = (await run(['backup', 'enc-gz', '--json'])).json<Row>();
  const plain = gunzipSync(age(['-d', '-i', keys.recovery.file, path.join(ws.dir, 'backups', b.artifact)]));
  assert.equal(sha256(plain), b.rawSha256);

  const before = sqliteFingerprint(path.join(ws.dir, 'shop.db'));
  const none = await run(['restore', b.id, '--to', 'shop', '--replace'], 2);
  assert.match(none.stderr, /COFFRE_E_AGE_IDENTITY_REQUIRED|is encrypted with age/);
  assert.ok(none.stderr.includes(keys.ops.recipient) && none.stderr.includes(keys.recovery.recipient));
  const wrong = await run(['restore', b.id, '--to', 'shop', '--replace', '--identity', keys.stranger.file, '--json'], 2);
  assert.equal(JSON.parse(wrong.stderr).error.code, 'COFFRE_E_AGE_NO_MATCHING_IDENTITY');
  assert.ok(wrong.stderr.includes(keys.ops.recipient) && wrong.stderr.includes(keys.stranger.recipient));
  assert.ok(!wrong.all.includes(keys.stranger.secret));
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'shop.db')), before, 'the target is untouched');

  for (const [i, k] of [keys.ops, keys.recovery].entries()) {
    const out = `copy-${i}.db`;
    await run(['target', 'add', `copy-${i}`, '--url', `sqlite:${path.join(ws.dir, out)}`]);
    const r =
      i === 0
        ? await run(['restore', b.id, '--to', `copy-${i}`, '--identity', k.file])
        : await run(['restore', b.id, '--to', `copy-${i}`, '--identity-env', 'T_AGE_ID'], 0, { T_AGE_ID: readFileSync(k.file, 'utf8') });
    assert.match(r.stdout, /age \+ gzip/);
    assert.equal(sqliteFingerprint(path.join(ws.dir, out)), before);
  }

  // verify: without an identity only the stored sha256, and it says so; with one, the dump inside too.
  const shaOnly = (await run(['verify', b.id, '--json'])).json<{ status: string; message: string }>();
  assert.equal(shaOnly.status, 'success');
  assert.match(shaOnly.message, /NOT decrypted/);
  const full = (await run(['verify', b.id, '--identity', keys.ops.file, '--json'])).json<{ status: string; message: string }>();
  assert.match(full.message, /raw dump .* match the journal/);
  const bad = await run(['verify', b.id, '--identity', keys.stranger.file], 2);
  assert.match(bad.stderr, new RegExp(keys.recovery.recipient));
});

test('files encrypted by the age CLI restore with restore --file --identity: a gzip SQL dump into PostgreSQL (armored), a SQLite file (binary)', async () => {
  const db = uniqueName('coffre_age');
  pgDatabases.push(db);
  const sql = "CREATE TABLE notes (id integer PRIMARY KEY, body text);\nINSERT INTO notes VALUES (1, 'chiffré'), (2, 'age -r');\n";
  const gz = path.join(ws.dir, 'notes.sql.gz');
  writeFileSync(gz, gzipSync(sql));
  const armored = path.join(ws.dir, 'notes.bin'); // a name that says nothing: the format is read from the bytes
  writeFileSync(armored, age(['-r', keys.ops.recipient, '-a', gz]));
  await run(['target', 'add', 'pg-notes', '--url', `postgres://root@127.0.0.1:5432/${db}`]);
  const r = await run(['restore', '--file', armored, '--to', 'pg-notes', '--identity', keys.ops.file]);
  assert.match(r.stdout, /Restored sql \(age \+ gzip\)/);
  const rows = await withClient(connectionTo(db), (c) => c.query('SELECT id, body FROM notes ORDER BY id'));
  assert.deepEqual(rows.rows, [
    { id: 1, body: 'chiffré' },
    { id: 2, body: 'age -r' },
  ]);

  const sqliteAge = path.join(ws.dir, 'shop.db.age');
  writeFileSync(sqliteAge, age(['-R', path.join(ws.dir, 'recipients.txt'), path.join(ws.dir, 'shop.db')]));
  await run(['target', 'add', 'from-cli', '--url', `sqlite:${path.join(ws.dir, 'from-cli.db')}`]);
  await run(['restore', '--file', sqliteAge, '--to', 'from-cli', '--identity', keys.recovery.file]);
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'from-cli.db')), sqliteFingerprint(path.join(ws.dir, 'shop.db')));
});

test('damaged age files: wrong identity, truncated, a flipped bit in the header, a middle chunk, the last chunk: coded errors, target as it was, no plaintext on disk', async () => {
  const good = age(['-r', keys.ops.recipient, path.join(ws.dir, 'shop.db')]);
  const headerEnd = good.indexOf('\n---') + 1;
  const payload = good.indexOf(0x0a, headerEnd) + 1 + 16;
  const flip = (at: number, bit = 1) => {
    const c = Buffer.from(good);
    c[at] ^= bit;
    return c;
  };
  const macAt = headerEnd + 8;
  const cases: Array<[string, Buffer, string, number, string?]> = [
    ['wrong identity', good, 'COFFRE_E_AGE_NO_MATCHING_IDENTITY', 2, keys.stranger.file],
    ['truncated after a chunk', good.subarray(0, payload + 3 * 65552), 'COFFRE_E_AGE_TRUNCATED', 1],
    ['truncated inside the header', good.subarray(0, headerEnd - 4), 'COFFRE_E_AGE_TRUNCATED', 1],
    ['a flipped bit in the header MAC', flip(macAt, /[A-Za-z0-9]/.test(String.fromCharCode(good[macAt] ^ 1)) ? 1 : 2), 'COFFRE_E_AGE_HEADER_INVALID', 1],
    ['a flipped bit in a middle chunk', flip(payload + 4 * 65552 + 777), 'COFFRE_E_AGE_PAYLOAD_CORRUPT', 1],
    ['a flipped bit in the last chunk', flip(good.length - 30), 'COFFRE_E_AGE_PAYLOAD_CORRUPT', 1],
  ];
  const targetFile = path.join(ws.dir, 'victim.db');
  blobDatabase(targetFile, 5, 10);
  const victim = sqliteFingerprint(targetFile);
  await run(['target', 'add', 'victim', '--url', `sqlite:${targetFile}`]);
  const beside = () =>
    readdirSync(ws.dir)
      .filter((n) => n.startsWith('victim'))
      .sort();
  const besideBefore = beside();
  for (const [what, bytes, code, exit, identity] of cases) {
    const file = path.join(ws.dir, 'damaged.age');
    writeFileSync(file, bytes);
    const r = await run(['restore', '--file', file, '--to', 'victim', '--replace', '--identity', identity ?? keys.ops.file, '--json'], exit);
    assert.equal(JSON.parse(r.stderr).error.code, code, what);
    assert.equal(sqliteFingerprint(targetFile), victim, `${what}: the target is as it was`);
    assert.deepEqual(beside(), besideBefore, `${what}: no side file beside the target`);
    assert.deepEqual(tempLeftovers(), [], `${what}: nothing left under DATA_DIR/tmp`);
  }
  const restores = (await run(['journal', '--restores', '--json'])).json<Array<{ status: string; source: string | null }>>();
  assert.ok(restores.filter((x) => x.source?.endsWith('damaged.age')).every((x) => x.status === 'failed'));
});

test('an encrypted incremental chain on S3 restores and verifies; recipients change for new backups only; a kept identity rebuilds an evicted parent', async () => {
  const dbFile = path.join(ws.dir, 'chain.db');
  blobDatabase(dbFile, 300, 800);
  await run(['target', 'add', 'chain', '--url', `sqlite:${dbFile}`]);
  await run(['plan', 'add', 'chain', '--target', 'chain', '--destination', 's3', '--kind', 'incremental', '--compression', 'zstd', '--encrypt-to', keys.ops.recipient]);
  const change = (from: number) => {
    const db = new DatabaseSync(dbFile);
    db.prepare('insert into t (id, b) values (?, ?)').run(from, randomBytes(800));
    db.prepare('update t set b = ? where id = ?').run(randomBytes(800), from - 100);
    db.close();
  };
  const full = (await run(['backup', 'chain', '--json'])).json<Row>();
  assert.equal(full.kind, 'full');
  change(1001);
  const inc1 = (await run(['backup', 'chain', '--json'])).json<Row>();
  assert.equal(inc1.kind, 'incremental', inc1.message ?? '');
  // New recipients: the next link is encrypted to them, the earlier rows keep theirs.
  await run(['plan', 'edit', 'chain', '--encrypt-to', keys.recovery.recipient]);
  change(1002);
  const inc2 = (await run(['backup', 'chain', '--json'])).json<Row>();
  assert.equal(inc2.kind, 'incremental', inc2.message ?? '');
  assert.equal(inc2.parentId, inc1.id);
  const rows = (await run(['journal', '--plan', 'chain', '--json'])).json<Row[]>();
  assert.deepEqual(
    rows.map((r) => r.recipients),
    [[keys.recovery.recipient], [keys.ops.recipient], [keys.ops.recipient]],
  );
  for (const link of [full, inc1, inc2]) {
    assert.match(link.artifact, /\.zst\.age$/);
    const body = Buffer.from(await (await s3Admin.send(new GetObjectCommand({ Bucket: bucket, Key: `enc/${link.artifact}` }))).Body!.transformToByteArray());
    assert.equal(body.subarray(0, 21).toString(), 'age-encryption.org/v1', `${link.kind} ${link.id} is an age file on S3`);
  }
  const expected = sqliteFingerprint(dbFile);

  // Restoring the top needs the identity of every link: the top's alone is refused by the chain's older links.
  await run(['target', 'add', 'chain-copy', '--url', `sqlite:${path.join(ws.dir, 'chain-copy.db')}`]);
  const partialKeys = await run(['restore', inc2.id, '--to', 'chain-copy', '--identity', keys.recovery.file, '--json'], 2);
  assert.equal(JSON.parse(partialKeys.stderr).error.code, 'COFFRE_E_AGE_NO_MATCHING_IDENTITY');
  assert.ok(!existsSync(path.join(ws.dir, 'chain-copy.db')));
  assert.deepEqual(tempLeftovers(), []);
  await run(['restore', inc2.id, '--to', 'chain-copy', '--identity', keys.recovery.file, '--identity', keys.ops.file]);
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'chain-copy.db')), expected);
  const verified = (await run(['verify', inc2.id, '--identity', keys.recovery.file, '--identity', keys.ops.file, '--json'])).json<{ status: string; message: string }>();
  assert.equal(verified.status, 'success', verified.message);
  assert.match(verified.message, /3 links .* rebuilt dump/);
  const hashOnly = (await run(['verify', inc2.id, '--json'])).json<{ status: string; message: string }>();
  assert.match(hashOnly.message, /NOT decrypted/);

  // The parent cache evicted: without an identity in the catalog the next run cannot rebuild its parent and is a full.
  rmSync(path.join(ws.dataDir, 'cache'), { recursive: true, force: true });
  change(1003);
  const fallback = (await run(['backup', 'chain', '--json'])).json<Row>();
  assert.equal(fallback.kind, 'full');
  assert.match(fallback.message ?? '', /encrypted, no longer in the local cache/);
  // With both identities kept in the catalog (opt-in, with its warning), the parent is rebuilt from S3.
  const kept = await run(['key', 'import', 'ops', '--identity', keys.ops.file]);
  assert.match(kept.stderr, /beside the backups/);
  await run(['key', 'import', 'recovery', '--identity', keys.recovery.file]);
  const listed = await run(['key', 'list']);
  assert.ok(listed.stdout.includes(keys.ops.recipient) && !listed.all.includes(keys.ops.secret));
  assert.ok(!readFileSync(path.join(ws.dataDir, 'coffre.db')).includes(keys.ops.secret), 'the kept identity is encrypted at rest');
  rmSync(path.join(ws.dataDir, 'cache'), { recursive: true, force: true });
  change(1004);
  const rebuilt = (await run(['backup', 'chain', '--json'])).json<Row>();
  assert.equal(rebuilt.kind, 'incremental', rebuilt.message ?? '');
  await run(['target', 'add', 'chain-copy2', '--url', `sqlite:${path.join(ws.dir, 'chain-copy2.db')}`]);
  await run(['restore', rebuilt.id, '--to', 'chain-copy2']); // the kept identities open it unattended
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'chain-copy2.db')), sqliteFingerprint(dbFile));
  await run(['key', 'remove', 'ops']);
  await run(['key', 'remove', 'recovery']);
});

test('the API: plans take encryptTo (POST, PATCH, null turns it off), journal rows show recipients, a restore uses an identity kept in the catalog', async () => {
  const token = 'age-api-token-0123456789';
  const s = await inProcess({ API_TOKEN: token, ENCRYPTION_SECRET: env.ENCRYPTION_SECRET });
  try {
    const dbFile = path.join(s.dir, 'api.db');
    blobDatabase(dbFile, 50, 100);
    const call = (m: string, url: string, body?: unknown) => s.call(m, url, { token, body });
    assert.equal((await call('POST', '/api/sgbd-targets', { name: 'api', url: `sqlite:${dbFile}` })).status, 201);
    assert.equal((await call('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(s.dir, 'backups') })).status, 201);
    const bad = await call('POST', '/api/plans', { name: 'p', targetId: 'api', destinationId: 'disk', encryptTo: ['age1nope'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'COFFRE_E_AGE_RECIPIENT_INVALID');
    const created = await call('POST', '/api/plans', { name: 'p', targetId: 'api', destinationId: 'disk', compression: 'zstd', encryptTo: [keys.ops.recipient] });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json().encryptTo, [keys.ops.recipient]);
    const job = await waitJob(s, (await call('POST', '/api/plans/p/execute', {})).json().jobId, token);
    assert.equal(job.status, 'success', JSON.stringify(job));
    const row = (await call('GET', '/api/journals?plan=p')).json();
    const item = (row.items ?? row)[0];
    assert.deepEqual(item.recipients, [keys.ops.recipient]);

    // No identity kept: the API restore is refused naming the recipient; kept, it runs unattended.
    const noKey = await call('POST', '/api/restores', { journalId: item.id, targetId: 'api', options: { replace: true } });
    assert.equal(noKey.status, 400, noKey.text);
    assert.ok(noKey.text.includes(keys.ops.recipient));
    const { importIdentity } = await import('../src/services/keys.ts');
    await importIdentity(s.ctx, 'ops', { files: [keys.ops.file] });
    const restore = await call('POST', '/api/restores', { journalId: item.id, targetId: 'api', options: { replace: true } });
    assert.equal(restore.status, 202, restore.text);
    const done = await waitJob(s, restore.json().jobId, token);
    assert.equal(done.status, 'success', JSON.stringify(done));
    for (const r of [created, await call('GET', '/api/plans/p'), await call('GET', '/api/journals?plan=p')]) assert.ok(!r.text.includes(keys.ops.secret));

    const off = await call('PATCH', '/api/plans/p', { encryptTo: null });
    assert.deepEqual(off.json().encryptTo, []);
    const job2 = await waitJob(s, (await call('POST', '/api/plans/p/execute', {})).json().jobId, token);
    assert.equal(job2.status, 'success');
    const rows2 = (await call('GET', '/api/journals?plan=p')).json();
    assert.deepEqual(
      (rows2.items ?? rows2).map((r: Row) => r.recipients),
      [[], [keys.ops.recipient]],
    );
  } finally {
    await s.close();
  }
});
