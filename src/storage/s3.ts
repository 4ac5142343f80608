// S3 and S3-compatible stores through @aws-sdk/client-s3, uploads through @aws-sdk/lib-storage's Upload:
// the stream is cut into fixed parts (PART_SIZE, QUEUE_SIZE in flight, so memory stays bounded whatever the
// artifact's size), a single PutObject when it fits in one part. Each part is retried by the SDK itself, the
// only place a failed piece can be sent again without buffering the whole artifact. Any failure aborts the
// multipart upload, so no partial object ever becomes visible. After the upload, HeadObject's size and
// checksum are compared with what we counted and hashed while streaming: the SHA-256 additional checksum
// (composite for multipart) where the server keeps one, else the ETag, which is the MD5 of a single-part
// object and the MD5 of the parts' MD5s for a multipart one (not with SSE-KMS, where it is opaque).

import { randomUUID, createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  S3Client,
  GetObjectCommand,
  HeadObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  type S3ClientConfig,
  type StorageClass,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DestinationSettings, GetRange, ObjectInfo, PutResult, Storage, StorageBackend } from '../core/types.ts';
import { asCoffreError, usageError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import {
  UploadMeter,
  checkBucketName,
  checkKey,
  integrityError,
  normalizePrefix,
  requireSetting,
  settingBool,
  settingString,
  toStorageError,
  type ErrorContext,
} from './object-store.ts';

/** Bytes per multipart part; memory in flight is about PART_SIZE * (QUEUE_SIZE + 1). */
export const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;
const SSE_VALUES = ['AES256', 'aws:kms', 'aws:kms:dsse'];

interface S3Config {
  bucket: string;
  region: string;
  prefix: string;
  endpoint?: string;
  forcePathStyle: boolean;
  storageClass?: string;
  serverSideEncryption?: string;
  sseKmsKeyId?: string;
  allowHttp: boolean;
}

function checkEndpoint(endpoint: string | undefined, allowHttp: boolean): void {
  if (endpoint === undefined) return;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw usageError('BAD_DESTINATION', `Destination field "endpoint" ("${endpoint}") is not a URL: give one such as https://s3.example.com.`, { field: 'endpoint' });
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && allowHttp) return;
  if (url.protocol === 'http:') {
    throw usageError(
      'INSECURE_ENDPOINT',
      `The S3 endpoint ${url.origin} is plain http, which would send data and signatures unencrypted: use https, or set allowHttp to accept it.`,
      { field: 'endpoint' },
    );
  }
  throw usageError('BAD_DESTINATION', `Destination field "endpoint" must be an https:// URL, not ${url.protocol}.`, { field: 'endpoint' });
}

function readConfig(config: Record<string, unknown>): S3Config {
  return config as unknown as S3Config;
}

/** Which credential an S3 error code points at, by name only. */
function credentialFor(code: string): string {
  if (code === 'InvalidAccessKeyId') return 'accessKeyId';
  if (code === 'SignatureDoesNotMatch') return 'secretAccessKey';
  if (code === 'ExpiredToken' || code === 'InvalidToken' || code === 'TokenRefreshRequired') return 'sessionToken';
  if (code === 'CredentialsProviderError') return 'accessKeyId/secretAccessKey (none were given and none found in the environment)';
  return 'accessKeyId/secretAccessKey';
}

function rangeHeader(range: GetRange | undefined): string | undefined {
  if (!range) return undefined;
  if (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < range.start))) {
    throw usageError('STORAGE_BAD_RANGE', `Invalid byte range ${range.start}-${range.end ?? ''}: start must be >= 0 and end >= start.`);
  }
  return `bytes=${range.start}-${range.end ?? ''}`;
}

function b64(buf: Buffer): string {
  return buf.toString('base64');
}

/** Opens an S3 storage on already validated settings. */
function openS3(settings: DestinationSettings): Storage {
  const cfg = readConfig(settings.config);
  checkEndpoint(cfg.endpoint, cfg.allowHttp);
  const { accessKeyId, secretAccessKey, sessionToken } = settings.secrets;
  for (const s of [accessKeyId, secretAccessKey, sessionToken]) registerSecret(s);
  const clientConfig: S3ClientConfig = {
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    // Part-level retries live here: a part is a buffer, so it can be sent again; see retry.ts for the rest.
    maxAttempts: 3,
    // We ask for SHA-256 explicitly on uploads and verify downloads ourselves (manifest sha256); ranged
    // downloads must not be checked against a whole-object checksum.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  };
  if (accessKeyId && secretAccessKey) clientConfig.credentials = { accessKeyId, secretAccessKey, sessionToken };
  const client = new S3Client(clientConfig);
  const Bucket = cfg.bucket;
  const name = (key: string) => cfg.prefix + checkKey(key);
  const ctx = (op: string, key?: string): ErrorContext => ({ type: 's3', op, key, bucket: Bucket, credential: credentialFor });

  const stat = async (key: string): Promise<ObjectInfo | undefined> => {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket, Key: name(key) }));
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified };
    } catch (err) {
      const e = toStorageError(err, ctx('stat', key));
      if (e.kind === 'not_found') return undefined;
      throw e;
    }
  };

  const removeQuietly = async (Key: string) => {
    await client.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => {});
  };

  return {
    type: 's3',

    async put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult> {
      const Key = name(key);
      const meter = new UploadMeter({ partSize: PART_SIZE });
      let inputError: unknown;
      input.once('error', (err) => {
        inputError ??= err;
      });
      const feeding = pipeline(input, meter).catch(() => {}); // errors surface through the upload reading `meter`
      const upload = new Upload({
        client,
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
        params: {
          Bucket,
          Key,
          Body: meter,
          ContentType: 'application/octet-stream',
          ChecksumAlgorithm: 'SHA256',
          StorageClass: cfg.storageClass as StorageClass | undefined,
          ServerSideEncryption: cfg.serverSideEncryption as ServerSideEncryption | undefined,
          SSEKMSKeyId: cfg.sseKmsKeyId,
        },
      });
      const onAbort = () => void upload.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (signal?.aborted) throw signal.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' });
        await upload.done();
      } catch (err) {
        meter.destroy();
        await feeding;
        if (inputError !== undefined) throw asCoffreError(inputError, 'INPUT_FAILED');
        throw toStorageError(err, ctx('upload', key));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      await feeding;

      let head;
      try {
        head = await client.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
      } catch (err) {
        throw toStorageError(err, ctx('upload check', key));
      }
      const size = head.ContentLength ?? -1;
      if (size !== meter.bytes) {
        await removeQuietly(Key);
        throw integrityError('s3', key, `${meter.bytes} bytes sent, ${size} stored`);
      }
      const parts = meter.parts;
      const multipart = parts.length > 1;
      const checks: string[] = [];

      if (head.ChecksumSHA256) {
        const [value, count] = head.ChecksumSHA256.split('-');
        const expected = multipart
          ? b64(
              createHash('sha256')
                .update(Buffer.concat(parts.map((p) => p.sha256)))
                .digest(),
            )
          : b64(Buffer.from(meter.sha256, 'hex'));
        if (value !== expected || (count !== undefined && Number(count) !== parts.length)) {
          await removeQuietly(Key);
          throw integrityError('s3', key, 'the SHA-256 checksum differs');
        }
        checks.push(multipart ? `sha256-composite:${value}-${parts.length}` : `sha256:${value}`);
      }
      const etag = (head.ETag ?? '').replace(/"/g, '');
      const etagIsMd5 = /^[0-9a-f]{32}(-\d+)?$/.test(etag) && !String(cfg.serverSideEncryption ?? '').startsWith('aws:kms');
      if (etagIsMd5) {
        // A multipart ETag is the MD5 of the parts' MD5s with "-<parts>"; some stores give the whole MD5 instead.
        const expected = etag.includes('-')
          ? `${createHash('md5')
              .update(Buffer.concat(parts.map((p) => p.md5)))
              .digest('hex')}-${parts.length}`
          : meter.md5.toString('hex');
        if (etag !== expected) {
          await removeQuietly(Key);
          throw integrityError('s3', key, 'the ETag (MD5) differs');
        }
        checks.push(etag.includes('-') ? `md5-multipart:${etag}` : `md5:${etag}`);
      }
      if (checks.length === 0) checks.push(`size-only etag:${etag}`);
      return { size, sha256: meter.sha256, checksum: checks[0] };
    },

    async get(key: string, range?: GetRange): Promise<Readable> {
      const Range = rangeHeader(range);
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: name(key), Range }));
        return out.Body as Readable;
      } catch (err) {
        throw toStorageError(err, ctx('download', key));
      }
    },

    stat,

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      const Prefix = cfg.prefix + prefix;
      let ContinuationToken: string | undefined;
      do {
        let page;
        try {
          page = await client.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken }));
        } catch (err) {
          throw toStorageError(err, ctx('list'));
        }
        for (const obj of page.Contents ?? []) {
          if (!obj.Key?.startsWith(cfg.prefix)) continue;
          yield { key: obj.Key.slice(cfg.prefix.length), size: obj.Size ?? 0, modified: obj.LastModified };
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    },

    async delete(key: string): Promise<void> {
      const Key = name(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key }));
        // An upload cut off before its abort could reach the server leaves parts that no listing shows but
        // that take space (and are billed): deleting the key also aborts every unfinished upload of it.
        let KeyMarker: string | undefined;
        let UploadIdMarker: string | undefined;
        do {
          const page = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: Key, KeyMarker, UploadIdMarker }));
          for (const u of page.Uploads ?? []) {
            if (u.Key === Key && u.UploadId) await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: u.UploadId }));
          }
          [KeyMarker, UploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
        } while (KeyMarker !== undefined);
      } catch (err) {
        const e = toStorageError(err, ctx('delete', key));
        if (e.kind !== 'not_found') throw e;
      }
    },

    async check(): Promise<void> {
      const probe = `${cfg.prefix}.coffre-check-${randomUUID()}`;
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
        await client.send(new PutObjectCommand({ Bucket, Key: probe, Body: 'coffre' }));
        await client.send(new DeleteObjectCommand({ Bucket, Key: probe }));
      } catch (err) {
        const e = toStorageError(err, ctx('check'));
        // HeadBucket answers a bare 404 for a missing bucket.
        if (e.kind === 'not_found') throw toStorageError({ name: 'NoSuchBucket', cause: err }, ctx('check'));
        throw e;
      }
    },
  } satisfies Storage;
}

export const s3 = {
  type: 's3',

  configure(input: Record<string, unknown>): DestinationSettings {
    const bucket = checkBucketName(requireSetting(settingString(input, 'bucket', ['AWS_BUCKET']), 'bucket', 's3', 'give --bucket or set AWS_BUCKET.'), 'bucket');
    const region = settingString(input, 'region', ['AWS_REGION', 'AWS_DEFAULT_REGION']) ?? 'us-east-1';
    const endpoint = settingString(input, 'endpoint', ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']);
    const allowHttp = settingBool(input, 'allowHttp') ?? false;
    checkEndpoint(endpoint, allowHttp);
    const storageClass = settingString(input, 'storageClass');
    if (storageClass !== undefined && !/^[A-Z_]+$/.test(storageClass)) {
      throw usageError('BAD_DESTINATION', `Destination field "storageClass" ("${storageClass}") is not an S3 storage class such as STANDARD, STANDARD_IA or GLACIER_IR.`, {
        field: 'storageClass',
      });
    }
    const serverSideEncryption = settingString(input, 'serverSideEncryption');
    if (serverSideEncryption !== undefined && !SSE_VALUES.includes(serverSideEncryption)) {
      throw usageError('BAD_DESTINATION', `Destination field "serverSideEncryption" must be one of ${SSE_VALUES.join(', ')}.`, { field: 'serverSideEncryption' });
    }
    const config: S3Config = {
      bucket,
      region,
      prefix: normalizePrefix(settingString(input, 'prefix')),
      endpoint,
      forcePathStyle: settingBool(input, 'forcePathStyle') ?? endpoint !== undefined,
      storageClass,
      serverSideEncryption,
      sseKmsKeyId: settingString(input, 'sseKmsKeyId'),
      allowHttp,
    };
    const secrets: Record<string, string> = {};
    const accessKeyId = settingString(input, 'accessKeyId', ['AWS_ACCESS_KEY_ID']);
    const secretAccessKey = settingString(input, 'secretAccessKey', ['AWS_SECRET_ACCESS_KEY']);
    const sessionToken = settingString(input, 'sessionToken', ['AWS_SESSION_TOKEN']);
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw usageError(
        'BAD_DESTINATION',
        `An s3 destination needs both "accessKeyId" and "secretAccessKey", or neither (then the SDK's default chain: environment, profile, instance role).`,
        { field: accessKeyId ? 'secretAccessKey' : 'accessKeyId' },
      );
    }
    if (accessKeyId) secrets.accessKeyId = accessKeyId;
    if (secretAccessKey) secrets.secretAccessKey = secretAccessKey;
    if (sessionToken) secrets.sessionToken = sessionToken;
    for (const s of Object.values(secrets)) registerSecret(s);
    return { config: { ...config } as Record<string, unknown>, secrets };
  },

  open: openS3,
} satisfies StorageBackend;
