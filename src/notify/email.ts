// email: SMTP through nodemailer, one message with a plain-text and an HTML part. `--security starttls`
// (default, port 587) upgrades the connection and refuses to go on without TLS; `tls` (port 465) is TLS from
// the first byte; `none` (port 25) sends in clear and is refused together with a password. Certificates are
// checked against the system's CAs, or against `--ca-file PEM` for a server with its own CA (never skipped).
// SMTP answers 4xx and lost connections may pass on a retry; 5xx answers and refused logins will not.

import { failure, usageError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { Channel, ChannelSettings, NotificationMessage } from './channel.ts';
import { colourOf, factsOf, plainBody } from './fields.ts';
import { rejectUnknown } from './http.ts';

const securities = ['starttls', 'tls', 'none'] as const;
type Security = (typeof securities)[number];
const defaultPorts: Record<Security, number> = { starttls: 587, tls: 465, none: 25 };
const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

function str(input: Record<string, unknown>, key: string): string | undefined {
  const v = input[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw usageError('BAD_SETTING', `The --${key} of an email notifier must be text.`, { field: key });
  return String(v);
}

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The HTML part: title, text and a table of the facts. */
export function htmlBody(m: NotificationMessage): string {
  const colour = `#${colourOf(m).toString(16).padStart(6, '0')}`;
  const rows = factsOf(m)
    .map(([k, v]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${html(k)}</th><td>${html(v)}</td></tr>`)
    .join('');
  return `<!doctype html><html><body style="font-family:sans-serif"><h2 style="color:${colour}">${html(m.title)}</h2><p>${html(m.text).replace(/\n/g, '<br>')}</p><table>${rows}</table></body></html>`;
}

export const email = {
  type: 'email',
  configure(input) {
    rejectUnknown(input, ['host', 'port', 'security', 'username', 'password', 'from', 'to', 'ca'], 'email');
    const host = str(input, 'host');
    if (!host || !/^[A-Za-z0-9.:[\]-]+$/.test(host))
      throw usageError('MISSING_SETTING', 'An email notifier needs {hint}.', { field: 'host' }, { option: 'host', value: 'SMTP_HOST' });
    const security = (str(input, 'security') ?? 'starttls') as Security;
    if (!securities.includes(security))
      throw usageError('BAD_SETTING', `The {hint} of an email notifier must be one of ${securities.join(', ')}.`, { field: 'security' }, { option: 'security' });
    const portText = str(input, 'port');
    const port = portText === undefined ? defaultPorts[security] : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw usageError('BAD_SETTING', 'The {hint} of an email notifier must be a port number.', { field: 'port' }, { option: 'port' });
    const from = str(input, 'from');
    if (!from || !ADDRESS.test(from)) throw usageError('MISSING_SETTING', 'An email notifier needs {hint}.', { field: 'from' }, { option: 'from', value: 'ADDRESS' });
    const to = (str(input, 'to') ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (to.length === 0 || to.some((a) => !ADDRESS.test(a)))
      throw usageError('MISSING_SETTING', 'An email notifier needs {hint} (plain addresses).', { field: 'to' }, { option: 'to', value: 'ADDRESS[,ADDRESS…]' });
    const username = str(input, 'username');
    const password = str(input, 'password');
    if ((username === undefined) !== (password === undefined))
      throw usageError('MISSING_SETTING', 'An email notifier takes a username and a password together: give both or neither.', { field: 'password' });
    if (password !== undefined && security === 'none')
      throw usageError(
        'INSECURE_SMTP',
        'Refusing to send an SMTP password over an unencrypted connection: set {hint} to starttls or tls.',
        { field: 'security' },
        { option: 'security' },
      );
    const ca = str(input, 'ca');
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----'))
      throw usageError(
        'BAD_SETTING',
        'The CA certificate ({hint}) must be PEM: a -----BEGIN CERTIFICATE----- block.',
        { field: 'ca' },
        { option: 'ca-file', value: 'FILE', field: 'ca' },
      );
    const secrets: Record<string, string> = password === undefined ? {} : { password };
    return { config: { host, port, security, username: username ?? null, from, to: to.join(','), ...(ca ? { ca } : {}) }, secrets };
  },
  async send(settings, m, options) {
    const c = settings.config as { host: string; port: number; security: Security; username: string | null; from: string; to: string; ca?: string };
    const nodemailer = (await import('nodemailer')).default; // loaded only when an email is sent
    const transport = nodemailer.createTransport({
      host: c.host,
      port: c.port,
      secure: c.security === 'tls',
      requireTLS: c.security === 'starttls',
      ignoreTLS: c.security === 'none',
      auth: c.username ? { user: c.username, pass: settings.secrets.password } : undefined,
      tls: c.ca ? { ca: c.ca } : undefined,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    });
    try {
      const info = await transport.sendMail({
        from: c.from,
        to: c.to,
        subject: m.title,
        text: plainBody(m),
        html: htmlBody(m),
        headers: { 'X-Coffre-Event': m.event, 'X-Coffre-Delivery': options.deliveryId, ...(m.journalId ? { 'X-Coffre-Journal-Id': m.journalId } : {}) },
      });
      return { answer: redact(String(info.response ?? 'accepted')).slice(0, 200) };
    } catch (err) {
      const e = err as Error & { code?: string; responseCode?: number };
      const cert = /certificate|self.signed|CERT_/i.test(`${e.code ?? ''} ${e.message}`);
      const retryable = !cert && e.code !== 'EAUTH' && e.code !== 'EENVELOPE' && !(e.responseCode !== undefined && e.responseCode >= 500);
      const why =
        e.code === 'EAUTH'
          ? 'the SMTP server refused the login'
          : cert
            ? "the SMTP server's certificate is not trusted (give its CA with --ca-file)"
            : redact(e.message).slice(0, 200);
      throw failure(retryable ? 'NOTIFY_UNREACHABLE' : 'NOTIFY_REFUSED', `The email notifier could not send through ${c.host}:${c.port}: ${why}.`, { retryable });
    } finally {
      transport.close();
    }
  },
  describe: (s: ChannelSettings) => `smtp ${String(s.config.host)}:${String(s.config.port)} ${String(s.config.security)} -> ${String(s.config.to)}`,
} satisfies Channel;
