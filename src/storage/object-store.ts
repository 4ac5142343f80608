// Common ground of the object-store backends (s3, gcs, azure): reading settings with their environment
// fallbacks, turning a coffre key into an object name under the destination's prefix, a transform that
// hashes and counts exactly the bytes sent (so the far side's size and checksum can be checked against
// ours), and the classification of provider errors into CoffreErrors that retry.ts decides on.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CoffreError, failure, notFound, usageError } from '../core/errors.ts';
import { namedVariable } from '../config.ts';

/** A string setting from the user's input, else from the first set environment variable, else undefined. */
export function settingString(
  input: Record<string, unknown>,
  field: string,
  envNames: readonly string[] = [],
  env: (name: string) => string | undefined = namedVariable,
): string | undefined {
  const value = input[field];
  if (value !== undefined && value !== null && value !== '') {
    if (typeof value !== 'string') throw usageError('BAD_DESTINATION', `Destination field "${field}" must be a string.`, { field });
    return value;
  }
  for (const name of envNames) {
    const v = env(name);
    if (v) return v;
  }
  return undefined;
}

/** A boolean setting: true/false, or their CLI spellings ("true", "1", "yes", "false", "0", "no"). */
export function settingBool(input: Record<string, unknown>, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|1|yes)$/i.test(value)) return true;
  if (typeof value === 'string' && /^(false|0|no)$/i.test(value)) return false;
  throw usageError('BAD_DESTINATION', `Destination field "${field}" must be true or false.`, { field });
}

/** Throws a usage error naming the field when value is missing. */
export function requireSetting<T>(value: T | undefined, field: string, type: string, hint: string): T {
  if (value === undefined || value === '')
    throw usageError('BAD_DESTINATION', `${type === 's3' || type === 'azure' ? 'An' : 'A'} ${type} destination needs "${field}": ${hint}`, { field });
  return value;
}

/** A bucket or container name: lowercase letters, digits, dots, dashes and underscores. */
export function checkBucketName(name: string, field: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(name)) {
    throw usageError('BAD_DESTINATION', `Destination field "${field}" ("${name}") is not a valid name: use 3 to 222 lowercase letters, digits, dots, dashes or underscores.`, {
      field,
    });
  }
  return name;
}

/** "a/b/" from " /a/b/ ", "" when none: the folder every object of the destination lives under. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').trim().replace(/^\/+|\/+$/g, '');
  if (!trimmed) return '';
  if (trimmed.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw usageError('BAD_DESTINATION', `Destination field "prefix" ("${trimmed}") must be a plain "/"-separated path without "." or ".." parts.`, { field: 'prefix' });
  }
  return `${trimmed}/`;
}

/** Rejects keys that are not relative, "/"-separated, without "..": they could escape the prefix. */
export function checkKey(key: string): string {
  if (!key || key.startsWith('/') || key.includes('\\') || key.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw usageError('BAD_KEY', `Invalid storage key "${key}": keys are relative "/"-separated paths without "." or ".." parts.`);
  }
  return key;
}

/** An incremental checksum: Node's hashes, or any object with the same two methods (GCS's CRC32C). */
export interface Digest {
  update(data: Buffer): unknown;
}

export interface MeterOptions {
  /** Also compute md5 and sha256 of each part of this many bytes (S3 multipart: MD5-of-MD5s, composite SHA-256). */
  partSize?: number;
  /** Extra whole-stream digests to feed (e.g. a CRC32C). */
  extra?: Digest[];
}

/**
 * A pass-through that counts and hashes every byte sent: sha256 and md5 of the whole, and optionally of each
 * fixed-size part. Part boundaries are multiples of partSize, the last part holding the rest (at least one
 * byte unless the stream is empty), which is how @aws-sdk/lib-storage cuts a stream.
 */
export class UploadMeter extends Transform {
  bytes = 0;
  private readonly sha = createHash('sha256');
  private readonly md5Hash = createHash('md5');
  private readonly extra: Digest[];
  private readonly partSize: number;
  private partSha: Hash | undefined;
  private partMd5: Hash | undefined;
  private partFill = 0;
  /** Raw sha256 and md5 digests of each completed part, in order. */
  readonly parts: Array<{ sha256: Buffer; md5: Buffer; size: number }> = [];
  private digests: { sha256: string; md5: Buffer } | undefined;

  constructor(options: MeterOptions = {}) {
    super();
    this.partSize = options.partSize ?? 0;
    this.extra = options.extra ?? [];
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    this.bytes += buf.length;
    this.sha.update(buf);
    this.md5Hash.update(buf);
    for (const d of this.extra) d.update(buf);
    if (this.partSize > 0) this.feedParts(buf);
    done(null, buf);
  }

  override _flush(done: TransformCallback): void {
    if (this.partSize > 0 && (this.partFill > 0 || this.parts.length === 0)) this.closePart();
    this.digests = { sha256: this.sha.digest('hex'), md5: this.md5Hash.digest() };
    done();
  }

  private feedParts(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length) {
      // A part is closed only when more bytes arrive, so a stream of exactly n parts ends with a full part.
      if (this.partFill === this.partSize) this.closePart();
      if (!this.partSha) {
        this.partSha = createHash('sha256');
        this.partMd5 = createHash('md5');
      }
      const take = Math.min(this.partSize - this.partFill, buf.length - offset);
      const slice = buf.subarray(offset, offset + take);
      this.partSha.update(slice);
      this.partMd5!.update(slice);
      this.partFill += take;
      offset += take;
    }
  }

  private closePart(): void {
    const sha = this.partSha ?? createHash('sha256');
    const md5 = this.partMd5 ?? createHash('md5');
    this.parts.push({ sha256: sha.digest(), md5: md5.digest(), size: this.partFill });
    this.partSha = undefined;
    this.partMd5 = undefined;
    this.partFill = 0;
  }

  /** sha256 (hex) of everything that went through; only after the stream ended. */
  get sha256(): string {
    if (!this.digests) throw new Error('UploadMeter: the stream has not ended');
    return this.digests.sha256;
  }

  /** md5 of everything that went through; only after the stream ended. */
  get md5(): Buffer {
    if (!this.digests) throw new Error('UploadMeter: the stream has not ended');
    return this.digests.md5;
  }
}

/** What the error classifier needs to know to word a message a user can act on. */
export interface ErrorContext {
  /** Destination type: "s3", "gcs", "azure". */
  type: string;
  /** What was being done: "upload", "download", "stat", "list", "delete", "check". */
  op: string;
  key?: string;
  /** Bucket or container, for "does not exist" messages. */
  bucket?: string;
  /** Names (never values) of the credential a provider error code points at, e.g. "secretAccessKey". */
  credential?: (code: string) => string;
}

const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsError',
  'AuthenticationFailed',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'invalid_grant',
  'unauthorized',
  'authError',
  'CredentialsProviderError',
]);
const PERMISSION_CODES = new Set(['AccessDenied', 'AuthorizationFailure', 'AuthorizationPermissionMismatch', 'AllAccessDisabled', 'forbidden', 'InsufficientAccountPermissions']);
const MISSING_BUCKET_CODES = new Set(['NoSuchBucket', 'ContainerNotFound', 'ContainerBeingDeleted']);
const MISSING_KEY_CODES = new Set(['NoSuchKey', 'NotFound', 'BlobNotFound', 'notFound', 'NoSuchUpload']);
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'InternalServerError',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
  'rateLimitExceeded',
  'backendError',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EPIPE',
  'EAI_AGAIN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'TimeoutError',
]);
const TRANSIENT_TEXT = /socket hang up|ECONNRESET|ETIMEDOUT|ECONNREFUSED|premature close|network error|other side closed|connection (was )?(reset|closed)/i;

interface Clues {
  status?: number;
  codes: string[];
  message: string;
}

function collectClues(err: unknown): Clues {
  const codes: string[] = [];
  let status: number | undefined;
  let message = '';
  let cur: unknown = err;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 5; depth++) {
    const e = cur as Record<string, any>;
    const s = e.$metadata?.httpStatusCode ?? e.statusCode ?? e.status ?? e.response?.status ?? (typeof e.code === 'number' ? e.code : undefined);
    if (status === undefined && typeof s === 'number' && s >= 100) status = s;
    for (const c of [e.Code, e.name, typeof e.code === 'string' ? e.code : undefined, e.details?.errorCode, e.errors?.[0]?.reason]) {
      if (typeof c === 'string' && c && c !== 'Error' && !codes.includes(c)) codes.push(c);
    }
    if (!message && typeof e.message === 'string') message = e.message;
    cur = e.cause;
  }
  return { status, codes, message };
}

/** Whether an error (already classified or not) may succeed when tried again. */
export function isTransient(err: unknown): boolean {
  if (err instanceof CoffreError) return err.retryable;
  const { status, codes, message } = collectClues(err);
  if (codes.some((c) => AUTH_CODES.has(c) || PERMISSION_CODES.has(c))) return false;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (codes.some((c) => TRANSIENT_CODES.has(c))) return true;
  return TRANSIENT_TEXT.test(message);
}

const CODE_SHAPE = /^[A-Za-z][A-Za-z0-9_.]{0,39}$/;

/** A short code for a far-side error: the first code shaped like an identifier (never free text), else the HTTP status. */
function farSideCode(status: number | undefined, codes: readonly string[]): string {
  const found = codes.find((c) => CODE_SHAPE.test(c));
  if (found) return found;
  return status !== undefined ? `HTTP ${status}` : 'error';
}

/**
 * Turns any provider or network error into a CoffreError: authentication (never retried, naming the
 * credential), a missing bucket, a missing key (kind not_found), a bad range, transient failures (retryable),
 * and the rest. A CoffreError passes through unchanged. Messages carry the status and a short code, never
 * the far side's body or message.
 */
export function toStorageError(err: unknown, ctx: ErrorContext): CoffreError {
  if (err instanceof CoffreError) return err;
  const { status, codes, message } = collectClues(err);
  const code = farSideCode(status, codes);
  const what = ctx.key ? `${ctx.op} of "${ctx.key}"` : ctx.op;
  // Never the far side's words: an endpoint may be any service this host reaches, and its body (or an SDK
  // message quoting it) would hand that service's answer to whoever set the endpoint. Status and code only.
  const detail = status !== undefined ? `HTTP ${status}` : 'no HTTP answer';
  const has = (set: Set<string>) => codes.find((c) => set.has(c));

  if ((codes.includes('AbortError') || codes.includes('ABORT_ERR')) && !isTransient(err)) {
    return failure('INTERRUPTED', `The ${ctx.type} ${what} was interrupted.`, { cause: err });
  }
  const authCode = has(AUTH_CODES) ?? (status === 401 ? code : undefined);
  if (authCode) {
    const credential = ctx.credential?.(authCode) ?? 'credentials';
    return new CoffreError(
      'STORAGE_AUTH',
      `The ${ctx.type} destination rejected its credentials (${credential}) during ${what}: ${authCode}. Check ${credential} of this destination.`,
      {
        kind: 'failed',
        retryable: false,
        cause: err,
        details: { provider: ctx.type, credential, providerCode: authCode },
      },
    );
  }
  const permissionCode = has(PERMISSION_CODES) ?? (status === 403 ? code : undefined);
  if (permissionCode) {
    const credential = ctx.credential?.(permissionCode) ?? 'credentials';
    return new CoffreError(
      'STORAGE_AUTH',
      `The ${ctx.type} destination refused ${what}${ctx.bucket ? ` in "${ctx.bucket}"` : ''} (${permissionCode}): the credentials (${credential}) were read but lack permission; grant it or use other credentials.`,
      {
        kind: 'failed',
        retryable: false,
        cause: err,
        details: { provider: ctx.type, credential, providerCode: permissionCode },
      },
    );
  }
  if (has(MISSING_BUCKET_CODES) || (status === 404 && /bucket|container/i.test(message) && !has(MISSING_KEY_CODES))) {
    return failure(
      'STORAGE_BUCKET_MISSING',
      `The ${ctx.type} ${ctx.type === 'azure' ? 'container' : 'bucket'}${ctx.bucket ? ` "${ctx.bucket}"` : ''} does not exist: create it, or fix the destination's settings.`,
      { cause: err },
    );
  }
  if (has(MISSING_KEY_CODES) || status === 404) {
    return notFound('STORAGE_NOT_FOUND', `No object ${ctx.key ? `"${ctx.key}" ` : ''}in the ${ctx.type} destination.`);
  }
  if (status === 416 || codes.includes('InvalidRange')) {
    return usageError('STORAGE_BAD_RANGE', `The byte range asked of "${ctx.key ?? ''}" is outside the object.`);
  }
  if (isTransient(err)) {
    return failure('STORAGE_TRANSIENT', `The ${ctx.type} ${what} failed for a reason that may pass (${code}): ${detail}`, { cause: err, retryable: true });
  }
  return failure('STORAGE_FAILED', `The ${ctx.type} ${what} failed (${code}): ${detail}`, { cause: err });
}

/** The error a put rejects with when the far side disagrees with what was sent; the object is removed first. */
export function integrityError(type: string, key: string, what: string): CoffreError {
  return failure(
    'STORAGE_INTEGRITY',
    `The ${type} upload of "${key}" did not arrive intact (${what}); the object was removed. Try again; if it persists, check the network path to the storage.`,
  );
}
