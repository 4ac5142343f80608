// Secret scrubbing for every text that leaves the process (logs, error messages, journal messages,
// a child's stderr). Two layers: known secret values registered at the moment they are decrypted,
// and patterns that look like credentials (passwords in URLs, key=value pairs) whatever their value.

const known = new Set<string>();

/** Remembers a secret value so that redact() removes it from any text from now on. */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 3) return; // too short to scrub without mangling ordinary text
  known.add(value);
  // URL-encoded forms show up in connection strings and tool messages.
  const encoded = encodeURIComponent(value);
  if (encoded !== value) known.add(encoded);
}

const MASK = '***';

const patterns: Array<[RegExp, string]> = [
  // scheme://user:password@host  ->  scheme://user:***@host
  [/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s/]*@/gi, `$1${MASK}@`],
  // password=..., pwd=..., secret=..., token=..., key=... in connection strings and query strings
  [/\b(password|passwd|pwd|secret|token|accountkey|sig|access_key|secret_key|apikey|api_key)=([^\s;&'"]+)/gi, `$1=${MASK}`],
  // "Bearer xyz"
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${MASK}`],
];

/** Returns text with every registered secret and every credential-looking fragment masked. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so that a secret containing another is masked whole.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const [re, replacement] of patterns) out = out.replace(re, replacement);
  return out;
}

/** The last `max` characters of a child's output, redacted, for a journal message. */
export function tail(text: string, max = 2000): string {
  const trimmed = text.trim();
  const cut = trimmed.length > max ? `…${trimmed.slice(trimmed.length - max)}` : trimmed;
  return redact(cut);
}
