// The age v1 stage on its own (src/crypto): interoperability both ways with the real `age` CLI and with the
// reference TypeScript implementation (npm age-encryption), at the chunk edges (empty, 1 byte, exactly one
// and two 64 KiB chunks, one more byte); several recipients, each identity alone opening the file; and the
// refusals: no identity, a wrong identity, a truncated file, a flipped bit in the header, in a middle chunk
// and in the last chunk, each a coded error with no plaintext of the damaged chunk handed out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as ageRef from 'age-encryption';
import { createAgeEncryptor, openEncrypted } from '../src/crypto/age.ts';
import { generateIdentity, identityFileText, parseIdentity, parseIdentityFile, parseRecipient, parseRecipientsFile } from '../src/crypto/age-keys.ts';
import { isCoffreError } from '../src/core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'coffre-age-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const SIZES = [0, 1, 65535, 65536, 65537, 131072, 131073, 300_001];

async function encrypt(plain: Buffer, recipients: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  // Fed in uneven pieces, so chunk boundaries never line up with input boundaries.
  const pieces: Buffer[] = [];
  for (let i = 0; i < plain.length; ) {
    const n = 1 + ((i * 7919) % 70001);
    pieces.push(plain.subarray(i, i + n));
    i += n;
  }
  await pipeline(Readable.from(pieces), createAgeEncryptor(recipients.map((r) => parseRecipient(r))), collect(out));
  return Buffer.concat(out);
}

function collect(out: Buffer[]): Writable {
  return new Writable({
    write: (c: Buffer, _e, cb) => {
      out.push(c);
      cb();
    },
  });
}

/** Decrypts with coffre; resolves the plaintext, or rejects with the error and what had been handed out. */
async function decrypt(cipher: Buffer, secrets: string[], recipients?: string[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const opened = await openEncrypted(Readable.from([cipher]), { identities: secrets.map((s) => parseIdentity(s, 'test key')), recipients, what: 'The test file' });
  assert.equal(opened.encrypted, true);
  try {
    await pipeline(opened.stream, collect(out));
  } catch (err) {
    (err as { handedOut?: number }).handedOut = Buffer.concat(out).length;
    throw err;
  }
  return Buffer.concat(out);
}

function keyFile(name: string): { path: string; secret: string; recipient: string } {
  const g = generateIdentity();
  const path = join(dir, name);
  writeFileSync(path, identityFileText(g), { mode: 0o600 });
  return { path, ...g };
}

function coded(code: string) {
  return (err: unknown) => {
    assert.ok(isCoffreError(err), `a CoffreError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

test('coffre encrypts, the age CLI decrypts, at every chunk edge', async () => {
  const key = keyFile('cli-reads.txt');
  for (const size of SIZES) {
    const plain = randomBytes(size);
    const file = join(dir, `to-cli-${size}.age`);
    writeFileSync(file, await encrypt(plain, [key.recipient]));
    const out = execFileSync('age', ['-d', '-i', key.path, file], { maxBuffer: 1 << 26 });
    assert.ok(out.equals(plain), `size ${size}`);
  }
});

test('inputs of whole chunks (64 KiB multiples, 1 MiB pieces, a chunk and a byte) are sealed in place and the age CLI decrypts them', async () => {
  const key = keyFile('cli-reads-whole.txt');
  const splits = [[65536], [65536, 65536], [1 << 20, 1 << 20, 7], [65537, 65535, 131072], [3, 65533, 65536, 65536], [131072, 1]];
  for (const split of splits) {
    const plain = randomBytes(split.reduce((a, b) => a + b, 0));
    const pieces: Buffer[] = [];
    let at = 0;
    for (const n of split) pieces.push(plain.subarray(at, (at += n)));
    const out: Buffer[] = [];
    await pipeline(Readable.from(pieces), createAgeEncryptor([parseRecipient(key.recipient)]), collect(out));
    const file = join(dir, `whole-${split.join('-')}.age`);
    writeFileSync(file, Buffer.concat(out));
    const back = execFileSync('age', ['-d', '-i', key.path, file], { maxBuffer: 1 << 26 });
    assert.ok(back.equals(plain), `pieces ${split.join(', ')}`);
    assert.ok((await decrypt(Buffer.concat(out), [key.secret])).equals(plain), `pieces ${split.join(', ')} (coffre)`);
  }
});

test('the age CLI encrypts (binary and armored), coffre decrypts, at every chunk edge', async () => {
  const key = keyFile('cli-writes.txt');
  for (const size of SIZES) {
    const plain = randomBytes(size);
    const input = join(dir, `plain-${size}`);
    writeFileSync(input, plain);
    for (const armor of [false, true]) {
      const cipher = execFileSync('age', ['-r', key.recipient, ...(armor ? ['-a'] : []), input], { maxBuffer: 1 << 26 });
      assert.ok((await decrypt(cipher, [key.secret])).equals(plain), `size ${size}${armor ? ' armored' : ''}`);
    }
  }
});

test('age-keygen identities and recipients are read, and coffre key files are read by age', async () => {
  const file = join(dir, 'keygen.txt');
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  const [identity] = parseIdentityFile(readFileSync(file, 'utf8'), file);
  const recipient = execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim();
  assert.equal(identity.recipient, recipient);
  // age-keygen -y derives the same recipient from a coffre-written identity file.
  const ours = keyFile('ours.txt');
  assert.equal(execFileSync('age-keygen', ['-y', ours.path], { encoding: 'utf8' }).trim(), ours.recipient);
  assert.match(readFileSync(ours.path, 'utf8'), /^# created: .+\n# public key: age1[a-z0-9]{58}\nAGE-SECRET-KEY-1[A-Z0-9]{58}\n$/);
});

test('the age-encryption package (reference implementation) agrees both ways', async () => {
  const secret = await ageRef.generateIdentity();
  const recipient = await ageRef.identityToRecipient(secret);
  assert.equal(parseIdentity(secret, 'ref').recipient, recipient);
  for (const size of [0, 65536, 131073]) {
    const plain = randomBytes(size);
    const d = new ageRef.Decrypter();
    d.addIdentity(secret);
    assert.ok(Buffer.from(await d.decrypt(await encrypt(plain, [recipient]))).equals(plain), `ref decrypts coffre's, size ${size}`);
    const e = new ageRef.Encrypter();
    e.addRecipient(recipient);
    assert.ok((await decrypt(Buffer.from(await e.encrypt(plain)), [secret])).equals(plain), `coffre decrypts ref's, size ${size}`);
  }
});

test('several recipients: each identity alone opens the file, with coffre and with the age CLI', async () => {
  const keys = [keyFile('r1.txt'), keyFile('r2.txt'), keyFile('r3.txt')];
  const plain = randomBytes(150_000);
  const file = join(dir, 'three.age');
  writeFileSync(
    file,
    await encrypt(
      plain,
      keys.map((k) => k.recipient),
    ),
  );
  for (const k of keys) {
    assert.ok((await decrypt(readFileSync(file), [k.secret])).equals(plain));
    assert.ok(execFileSync('age', ['-d', '-i', k.path, file], { maxBuffer: 1 << 26 }).equals(plain));
  }
  // A recipients file in age -R syntax, and the age CLI writing to several recipients.
  const list = join(dir, 'recipients.txt');
  writeFileSync(list, `# the operator\n${keys[0].recipient}\n\n# offline recovery key\n${keys[1].recipient}\n`);
  assert.deepEqual(
    parseRecipientsFile(readFileSync(list, 'utf8'), list).map((r) => r.recipient),
    [keys[0].recipient, keys[1].recipient],
  );
  const byCli = execFileSync('age', ['-R', list], { input: plain, maxBuffer: 1 << 26 });
  assert.ok((await decrypt(byCli, [keys[1].secret])).equals(plain));
});

test('refusals: no identity, a wrong one, truncation, flipped bits in the header and in a middle and the last chunk', async () => {
  const key = keyFile('good.txt');
  const other = keyFile('other.txt');
  const plain = randomBytes(65536 * 3 + 1000); // chunks 1..3 full, chunk 4 short and last
  const cipher = await encrypt(plain, [key.recipient]);
  const headerEnd = cipher.indexOf('\n---') + 1;
  const payload = cipher.indexOf(0x0a, headerEnd) + 1 + 16;

  await assert.rejects(openEncrypted(Readable.from([cipher]), { identities: [], recipients: [key.recipient], what: 'The test file' }), (err: unknown) => {
    coded('COFFRE_E_AGE_IDENTITY_REQUIRED')(err);
    assert.match((err as Error).message, new RegExp(key.recipient));
    return true;
  });
  await assert.rejects(decrypt(cipher, [other.secret], [key.recipient]), (err: unknown) => {
    coded('COFFRE_E_AGE_NO_MATCHING_IDENTITY')(err);
    assert.match((err as Error).message, new RegExp(key.recipient));
    assert.ok(!(err as Error).message.includes(other.secret));
    return true;
  });
  // Cut inside the header, inside the nonce, and after a whole chunk: truncated; inside the last chunk:
  // that chunk fails authentication like any damage.
  for (const cut of [headerEnd - 5, headerEnd + 5, payload - 3, payload + 65536 + 16, payload + 2 * (65536 + 16)]) {
    await assert.rejects(decrypt(cipher.subarray(0, cut), [key.secret]), coded('COFFRE_E_AGE_TRUNCATED'), `cut at ${cut}`);
  }
  await assert.rejects(decrypt(cipher.subarray(0, cipher.length - 1), [key.secret]), coded('COFFRE_E_AGE_PAYLOAD_CORRUPT'));
  const flip = (at: number, bit = 1) => {
    const c = Buffer.from(cipher);
    c[at] ^= bit;
    return c;
  };
  // A bit of the MAC line (a base64 letter that stays one): the header is refused before any plaintext.
  const macAt = headerEnd + 10;
  await assert.rejects(decrypt(flip(macAt, /[A-Za-z]/.test(String.fromCharCode(cipher[macAt] ^ 1)) ? 1 : 2), [key.secret]), coded('COFFRE_E_AGE_HEADER_INVALID'));
  // A bit of the version line: no longer an age file, so it passes through as what it is (plain bytes).
  assert.equal((await openEncrypted(Readable.from([flip(3)]), { identities: [], what: 'x' })).encrypted, false);
  // The nonce: the payload key changes, the first chunk fails.
  await assert.rejects(decrypt(flip(payload - 5), [key.secret]), coded('COFFRE_E_AGE_PAYLOAD_CORRUPT'));
  // Middle chunk (the second): the first chunk's plaintext may have been handed out, never the second's.
  await assert.rejects(decrypt(flip(payload + 65552 + 100), [key.secret]), (err: unknown) => {
    coded('COFFRE_E_AGE_PAYLOAD_CORRUPT')(err);
    assert.ok((err as { handedOut: number }).handedOut <= 65536);
    return true;
  });
  // The last chunk: everything before it, nothing of it.
  await assert.rejects(decrypt(flip(cipher.length - 20), [key.secret]), (err: unknown) => {
    coded('COFFRE_E_AGE_PAYLOAD_CORRUPT')(err);
    assert.ok((err as { handedOut: number }).handedOut <= 3 * 65536);
    return true;
  });
  // The age CLI refuses each damaged file too (the corpus is damaged, not misread by both).
  for (const damaged of [flip(macAt, 2), flip(payload + 65552 + 100), flip(cipher.length - 20), cipher.subarray(0, payload + 65536 + 16)]) {
    const f = join(dir, 'damaged.age');
    writeFileSync(f, damaged);
    assert.notEqual(spawnSync('age', ['-d', '-i', key.path, '-o', '/dev/null', f]).status, 0);
  }
});

test('recipient and identity parsing: bad, post-quantum, SSH and plugin keys are usage errors that never echo a secret', () => {
  const g = generateIdentity();
  assert.equal(parseRecipient(g.recipient.toUpperCase()).recipient, g.recipient);
  for (const bad of [
    'age1xyz',
    'age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq',
    'AGE-SECRET-KEY-1',
    `${g.recipient.slice(0, -1)}${g.recipient.endsWith('q') ? 'p' : 'q'}`,
  ]) {
    assert.throws(() => parseRecipient(bad), coded('COFFRE_E_AGE_RECIPIENT_INVALID'));
  }
  assert.throws(() => parseRecipient('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN'), coded('COFFRE_E_AGE_RECIPIENT_UNSUPPORTED'));
  assert.throws(() => parseRecipient('age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t'), coded('COFFRE_E_AGE_RECIPIENT_UNSUPPORTED'));
  const broken = `${g.secret.slice(0, -1)}${g.secret.endsWith('Q') ? 'P' : 'Q'}`;
  assert.throws(
    () => parseIdentity(broken, 'the key file'),
    (err: unknown) => {
      coded('COFFRE_E_AGE_IDENTITY_INVALID')(err);
      assert.ok(!(err as Error).message.includes(broken.slice(20)));
      return true;
    },
  );
  assert.throws(() => parseIdentityFile('# nothing here\n\n', 'empty.txt'), coded('COFFRE_E_AGE_IDENTITY_INVALID'));
});
