// Coded, classified errors. Every failure a user can see is a CoffreError: a stable code (COFFRE_E_...),
// a message that says what is wrong and what to do, a kind that the edges (CLI exit codes, HTTP statuses)
// map from, and whether trying again may help. Messages must never contain secrets: build them from
// redacted values, and pass foreign text (a child's stderr) through redact() first.

/** What sort of failure this is; only the edges turn it into an exit code or an HTTP status. */
export type ErrorKind =
  | 'usage' // the caller's input is wrong (CLI exit 2, HTTP 400)
  | 'not_found' // a named thing does not exist (exit 2, HTTP 404)
  | 'conflict' // the request clashes with current state (exit 2, HTTP 409)
  | 'unauthorized' // missing or wrong credentials to coffre itself (HTTP 401)
  | 'forbidden' // authenticated but not allowed (HTTP 403)
  | 'rate_limited' // too many attempts from one client address; try again later (HTTP 429)
  | 'failed'; // the operation was attempted and failed (exit 1, HTTP 502/500)

/**
 * What a user can change to succeed, as data: each edge words it in its own terms (`{hint}` in a message
 * marks where). The CLI says `--replace`, `--kind full`, `--to TARGET`, `--database NAME`, `coffre target list`,
 * `coffre journal adopt ID --plan PLAN`, `coffre backup PLAN`, `--url` (the default wording, `message`); the API says
 * `"replace": true`, `"kind": "full"`, `targetId`, `options.database`, `GET /api/sgbd-targets`,
 * `POST /api/journals/ID/adopt`, `POST /api/plans/PLAN/execute`, `"url"` (api/errors.ts). The core never writes either.
 */
export type Hint =
  | { flag: 'replace' }
  | { kind: 'full' }
  | { target: 'TARGET' }
  | { database: 'NAME' }
  /** Where to find the names or ids that exist. */
  | { see: Listing }
  /** Adopt imported backups, oldest first (into `plan`, a plan's name or the placeholder PLAN, when it must be said). */
  | { adopt: string[]; plan?: string }
  /** Back up this plan. */
  | { backup: string }
  /** Drill on another target's server. */
  | { drillTarget: 'TARGET' }
  /** Give an age identity that opens it. */
  | { identity: 'FILE' }
  /** A setting: the CLI's `--option VALUE`, the API's body field (`field`, by default the option's name). */
  | { option: string; value?: string; field?: string };

/** What a user can list to find a valid name or id. */
export type Listing = 'plans' | 'targets' | 'destinations' | 'journal' | 'drills' | 'notifiers' | 'tokens';

/** How an edge words a hint. */
export type HintWords = (hint: Hint) => string;

const commandOf: Record<Listing, string> = {
  plans: 'coffre plan list',
  targets: 'coffre target list',
  destinations: 'coffre destination list',
  journal: 'coffre journal',
  drills: 'coffre journal --drills',
  notifiers: 'coffre notify list',
  tokens: 'coffre token list',
};

/** The default wording: the CLI's flags and commands. */
export const flagWords: HintWords = (hint) => {
  if ('flag' in hint) return `--${hint.flag}`;
  if ('kind' in hint) return `--kind ${hint.kind}`;
  if ('database' in hint) return `--database ${hint.database}`;
  if ('target' in hint) return `--to ${hint.target}`;
  if ('see' in hint) return `\`${commandOf[hint.see]}\``;
  if ('adopt' in hint) return `\`coffre journal adopt ${hint.adopt.join(' ')}${hint.plan ? ` --plan ${hint.plan}` : ''}\``;
  if ('backup' in hint) return `\`coffre backup ${hint.backup}\``;
  if ('drillTarget' in hint) return `--drill-target ${hint.drillTarget}`;
  if ('option' in hint) return `--${hint.option}${hint.value ? ` ${hint.value}` : ''}`;
  return `--identity ${hint.identity} (or --identity-env VAR), or store one in the catalog with \`coffre key import\``;
};

export interface CoffreErrorOptions {
  kind?: ErrorKind;
  /** What to change, worded by the edge where `{hint}` stands in the message. */
  hint?: Hint;
  retryable?: boolean;
  /** Structured, secret-free details (field names, limits) for JSON output. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CoffreError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  readonly hint?: Hint;
  readonly #template: string;

  constructor(code: string, message: string, options: CoffreErrorOptions = {}) {
    super(options.hint ? message.replaceAll('{hint}', flagWords(options.hint)) : message, options.cause === undefined ? undefined : { cause: options.cause });
    this.#template = message;
    this.hint = options.hint;
    this.name = 'CoffreError';
    this.code = code.startsWith('COFFRE_E_') ? code : `COFFRE_E_${code}`;
    this.kind = options.kind ?? 'failed';
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** The message with its hint worded by `words` (the message itself when it has no hint). */
  worded(words: HintWords): string {
    return this.hint ? this.#template.replaceAll('{hint}', words(this.hint)) : this.message;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** The user's input is wrong: say which input and what a valid one looks like. */
export function usageError(code: string, message: string, details?: Record<string, unknown>, hint?: Hint): CoffreError {
  return new CoffreError(code, message, { kind: 'usage', details, hint });
}

export function notFound(code: string, message: string, hint?: Hint): CoffreError {
  return new CoffreError(code, message, { kind: 'not_found', hint });
}

export function conflict(code: string, message: string, details?: Record<string, unknown>, hint?: Hint): CoffreError {
  return new CoffreError(code, message, { kind: 'conflict', details, hint });
}

/** The operation ran and failed (a tool's exit code, a lost connection, a full disk). */
export function failure(code: string, message: string, options: Omit<CoffreErrorOptions, 'kind'> = {}): CoffreError {
  return new CoffreError(code, message, { ...options, kind: 'failed' });
}

export function isCoffreError(err: unknown): err is CoffreError {
  return err instanceof CoffreError;
}

/**
 * Turns anything thrown into a CoffreError without losing a coded one. Node system errors become
 * messages a user can act on (a full disk, a missing binary, a refused connection); the original
 * stack stays on `cause` for debugging and is never printed.
 */
export function asCoffreError(err: unknown, fallbackCode = 'INTERNAL'): CoffreError {
  if (err instanceof CoffreError) return err;
  const sys = err as NodeJS.ErrnoException | undefined;
  switch (sys?.code) {
    case 'ENOSPC':
      return failure('DISK_FULL', `No space left on the device while writing${sys.path ? ` ${sys.path}` : ''}: free some space or choose another destination.`, { cause: err });
    case 'EDQUOT':
      return failure('DISK_QUOTA', 'The disk quota is exhausted: free some space or choose another destination.', { cause: err });
    case 'EACCES':
    case 'EPERM':
      return failure('PERMISSION_DENIED', `Permission denied${sys.path ? ` on ${sys.path}` : ''}: check the owner and mode of that path.`, { cause: err });
    case 'ECONNREFUSED':
      return failure('CONNECTION_REFUSED', 'The connection was refused: check the host and port, and that the server is running.', { cause: err, retryable: true });
    case 'ECONNRESET':
    case 'EPIPE':
      return failure('CONNECTION_RESET', 'The connection was cut while data was moving.', { cause: err, retryable: true });
    case 'ETIMEDOUT':
      return failure('TIMEOUT', 'The operation timed out.', { cause: err, retryable: true });
    case 'ABORT_ERR':
      return failure('INTERRUPTED', 'The operation was interrupted.', { cause: err });
  }
  if ((err as Error | undefined)?.name === 'AbortError') return failure('INTERRUPTED', 'The operation was interrupted.', { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return failure(fallbackCode, message || 'Unexpected error.', { cause: err });
}
