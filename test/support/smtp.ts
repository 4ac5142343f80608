// A real SMTP server for notification tests (npm smtp-server) with STARTTLS on a self-signed certificate made
// for the test by the openssl CLI, and login required; every message is parsed back with mailparser.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { until } from './wait.ts';

export interface SmtpReceiver {
  port: number;
  /** The certificate (PEM) the server presents: what `--ca-file` trusts. */
  certFile: string;
  messages: ParsedMail[];
  /** Logins seen (user names). */
  logins: string[];
  /** Whether each session was upgraded to TLS before the message. */
  secured: boolean[];
  waitFor(count: number, limitMs?: number): Promise<ParsedMail[]>;
  /** The `notify add NAME` flags of an email notifier sending through this server (trusting its certificate). */
  notifierArgs(o: { username: string; passwordEnv: string; from: string; to: string; security?: string }): string[];
  close(): Promise<void>;
}

export async function startSmtp(user: string, password: string): Promise<SmtpReceiver> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-smtp-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const messages: ParsedMail[] = [];
  const logins: string[] = [];
  const secured: boolean[] = [];
  const server = new SMTPServer({
    key: await readFile(keyFile),
    cert: await readFile(certFile),
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, session, cb) {
      if (!session.secure) return cb(new Error('TLS first'));
      if (auth.username === user && auth.password === password) {
        logins.push(auth.username);
        return cb(null, { user: auth.username });
      }
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      secured.push(session.secure);
      simpleParser(stream).then((m) => {
        messages.push(m);
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    certFile,
    messages,
    logins,
    secured,
    waitFor: (count, limitMs = 30000) =>
      until(
        () => messages.length >= count && messages,
        () => `${count} smtp messages (${messages.length} came)`,
        { limitMs, everyMs: 50 },
      ),
    notifierArgs: (o) => [
      '--type',
      'email',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      ...(o.security ? ['--security', o.security] : []),
      '--username',
      o.username,
      '--password-env',
      o.passwordEnv,
      '--from',
      o.from,
      '--to',
      o.to,
      '--ca-file',
      certFile,
    ],
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
