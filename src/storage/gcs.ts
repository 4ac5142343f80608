// Google Cloud Storage through @google-cloud/storage. Uploads go through a resumable session streamed in one
// request (no chunkSize, so the library holds no artifact-sized buffer); an object exists only once the
// session is finalized, so an upload cut short, or fed by a failing stream, leaves nothing visible. While
// streaming we compute MD5 and CRC32C, and after the upload compare them and the size with the object's
// metadata (md5Hash, crc32c, size) as the service computed them.

import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage as GcsClient, CRC32C, type StorageOptions, type File } from '@google-cloud/storage';
import type { DestinationSettings, GetRange, ObjectInfo, PutResult, Storage, StorageBackend } from '../core/types.ts';
import { asCoffreError, notFound, usageError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { UploadMeter, checkBucketName, checkKey, integrityError, normalizePrefix, requireSetting, settingString, toStorageError, type ErrorContext } from './object-store.ts';
import { namedVariable } from '../config.ts';

interface GcsConfig {
  bucket: string;
  prefix: string;
  projectId?: string;
  apiEndpoint?: string;
}

/** Parses a service-account or authorized-user credentials JSON (nothing else) and registers its secret parts for redaction. */
function parseCredentials(text: string, from: string): Record<string, unknown> {
  registerSecret(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw usageError('BAD_DESTINATION', `The gcs credentials ${from} are not JSON: give the service account key file's content.`, { field: 'credentials' });
  }
  if (!parsed || typeof parsed !== 'object') throw usageError('BAD_DESTINATION', `The gcs credentials ${from} must be a JSON object.`, { field: 'credentials' });
  const obj = parsed as Record<string, unknown>;
  // Other credential types make the Google library read a file or fetch a URL named in the JSON and post
  // what it got to a token URL also named there (external_account, impersonated_service_account, ...): a
  // destination's settings would then reach this host's files and network. Only key files are accepted.
  if (obj.type !== 'service_account' && obj.type !== 'authorized_user') {
    const given = typeof obj.type === 'string' ? `"${obj.type.slice(0, 60)}"` : 'missing';
    throw usageError(
      'BAD_GCS_CREDENTIALS',
      `The gcs credentials ${from} are of type ${given}: coffre accepts only a service account key file (type "service_account") or an authorized user file (type "authorized_user"); create a service account key for the bucket.`,
      { field: 'credentials' },
    );
  }
  const required = obj.type === 'service_account' ? ['client_email', 'private_key'] : ['client_id', 'client_secret', 'refresh_token'];
  const missing = required.filter((f) => typeof obj[f] !== 'string' || !obj[f]);
  if (missing.length)
    throw usageError('BAD_GCS_CREDENTIALS', `The gcs credentials ${from} (type "${obj.type}") lack ${missing.join(', ')}: give the key file as Google made it.`, {
      field: 'credentials',
    });
  for (const field of ['private_key', 'client_secret', 'refresh_token', 'private_key_id']) {
    if (typeof obj[field] === 'string') registerSecret(obj[field] as string);
  }
  return obj;
}

function credentialFor(): string {
  return 'credentials (service account JSON)';
}

function openGcs(settings: DestinationSettings): Storage {
  const cfg = settings.config as unknown as GcsConfig;
  const options: StorageOptions = {
    projectId: cfg.projectId,
    apiEndpoint: cfg.apiEndpoint,
    retryOptions: { autoRetry: true, maxRetries: 2 },
  };
  if (settings.secrets.credentials) options.credentials = parseCredentials(settings.secrets.credentials, 'of this destination') as StorageOptions['credentials'];
  const bucket = new GcsClient(options).bucket(cfg.bucket);
  const name = (key: string) => cfg.prefix + checkKey(key);
  const ctx = (op: string, key?: string): ErrorContext => ({ type: 'gcs', op, key, bucket: cfg.bucket, credential: credentialFor });

  const metadataOf = async (file: File, key: string) => {
    try {
      const [md] = await file.getMetadata();
      return md;
    } catch (err) {
      const e = toStorageError(err, ctx('stat', key));
      if (e.kind === 'not_found') return undefined;
      throw e;
    }
  };

  return {
    type: 'gcs',

    async put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult> {
      const file = bucket.file(name(key));
      const crc = new CRC32C();
      const meter = new UploadMeter({ extra: [crc] });
      let inputError: unknown;
      input.once('error', (err) => {
        inputError ??= err;
      });
      // The library destroys its upload request without an error when the write stream fails, which leaves
      // the request open (a leaked socket, a session the server keeps waiting on). The upload's requests go
      // through an agent of our own, destroyed on failure, which cuts them for certain.
      // The upload may still be creating its session when the input fails, so the agent also refuses any
      // connection asked for after that.
      const agent = cfg.apiEndpoint?.startsWith('http:') ? new HttpAgent({ keepAlive: false }) : new HttpsAgent({ keepAlive: false });
      let cancelled = false;
      const connect = agent.createConnection.bind(agent);
      agent.createConnection = ((options: object, callback?: unknown) => {
        if (!cancelled) return (connect as (o: object, c?: unknown) => unknown)(options, callback);
        const socket = new Socket();
        process.nextTick(() => socket.destroy(new Error('upload cancelled')));
        return socket;
      }) as typeof agent.createConnection;
      file.interceptors.push({ request: (opts) => ({ ...(opts as object), agent }) as never });
      const sink = file.createWriteStream({ resumable: true, validation: false, metadata: { contentType: 'application/octet-stream' } });
      try {
        await pipeline(input, meter, sink, { signal });
      } catch (err) {
        cancelled = true;
        agent.destroy();
        if (inputError !== undefined) throw asCoffreError(inputError, 'INPUT_FAILED');
        throw toStorageError(err, ctx('upload', key));
      }
      const md = (await metadataOf(file, key)) ?? {};
      const size = Number(md.size ?? -1);
      const remove = () => file.delete({ ignoreNotFound: true }).catch(() => {});
      if (size !== meter.bytes) {
        await remove();
        throw integrityError('gcs', key, `${meter.bytes} bytes sent, ${size} stored`);
      }
      const checks: string[] = [];
      if (md.crc32c) {
        if (md.crc32c !== crc.toString()) {
          await remove();
          throw integrityError('gcs', key, 'the CRC32C differs');
        }
        checks.push(`crc32c:${md.crc32c}`);
      }
      if (md.md5Hash) {
        if (md.md5Hash !== meter.md5.toString('base64')) {
          await remove();
          throw integrityError('gcs', key, 'the MD5 differs');
        }
        checks.push(`md5:${meter.md5.toString('hex')}`);
      }
      if (checks.length === 0) checks.push('size-only');
      return { size, sha256: meter.sha256, checksum: checks.join(' ') };
    },

    async get(key: string, range?: GetRange): Promise<Readable> {
      if (range && (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && range.end < range.start))) {
        throw usageError('STORAGE_BAD_RANGE', `Invalid byte range ${range.start}-${range.end ?? ''}: start must be >= 0 and end >= start.`);
      }
      const file = bucket.file(name(key));
      // createReadStream reports a missing object only as a stream error; ask first so get() rejects.
      const md = await metadataOf(file, key);
      if (!md) throw notFound('STORAGE_NOT_FOUND', `No object "${key}" in the gcs destination.`);
      if (range && range.start >= Number(md.size) && Number(md.size) > 0) {
        throw usageError('STORAGE_BAD_RANGE', `The byte range asked of "${key}" is outside the object.`);
      }
      return file.createReadStream({ validation: false, decompress: false, ...(range ? { start: range.start, end: range.end } : {}) });
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      const md = await metadataOf(bucket.file(name(key)), key);
      if (!md) return undefined;
      return { key, size: Number(md.size ?? 0), modified: md.updated ? new Date(md.updated) : undefined };
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      let pageToken: string | undefined;
      do {
        let files: File[];
        let next: { pageToken?: string } | null;
        try {
          [files, next] = (await bucket.getFiles({ prefix: cfg.prefix + prefix, autoPaginate: false, maxResults: 1000, pageToken })) as unknown as [
            File[],
            { pageToken?: string } | null,
          ];
        } catch (err) {
          throw toStorageError(err, ctx('list'));
        }
        for (const f of files) {
          if (!f.name.startsWith(cfg.prefix)) continue;
          yield { key: f.name.slice(cfg.prefix.length), size: Number(f.metadata.size ?? 0), modified: f.metadata.updated ? new Date(f.metadata.updated) : undefined };
        }
        pageToken = next?.pageToken;
      } while (pageToken);
    },

    async delete(key: string): Promise<void> {
      try {
        await bucket.file(name(key)).delete({ ignoreNotFound: true });
      } catch (err) {
        const e = toStorageError(err, ctx('delete', key));
        if (e.kind !== 'not_found') throw e;
      }
    },

    async check(): Promise<void> {
      try {
        const [exists] = await bucket.exists();
        if (!exists) throw toStorageError({ name: 'NoSuchBucket' }, ctx('check'));
        const probe = bucket.file(`${cfg.prefix}.coffre-check-${randomUUID()}`);
        await probe.save('coffre', { resumable: false });
        await probe.delete({ ignoreNotFound: true });
      } catch (err) {
        throw toStorageError(err, ctx('check'));
      }
    },
  } satisfies Storage;
}

export const gcs = {
  type: 'gcs',

  configure(input: Record<string, unknown>): DestinationSettings {
    const bucket = checkBucketName(requireSetting(settingString(input, 'bucket', ['GCP_BUCKET']), 'bucket', 'gcs', 'give --bucket or set GCP_BUCKET.'), 'bucket');
    const apiEndpoint = settingString(input, 'apiEndpoint');
    if (apiEndpoint !== undefined && !/^https?:\/\/[^/]/.test(apiEndpoint)) {
      throw usageError('BAD_DESTINATION', `Destination field "apiEndpoint" ("${apiEndpoint}") must be an http(s) URL.`, { field: 'apiEndpoint' });
    }
    const config: GcsConfig = {
      bucket,
      prefix: normalizePrefix(settingString(input, 'prefix')),
      projectId: settingString(input, 'projectId', ['GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT']),
      apiEndpoint,
    };
    const secrets: Record<string, string> = {};
    const given = input.credentials;
    if (given !== undefined && given !== null && given !== '') {
      const text = typeof given === 'string' ? given : JSON.stringify(given);
      parseCredentials(text, 'given');
      secrets.credentials = text;
    } else if (namedVariable('GOOGLE_APPLICATION_CREDENTIALS')) {
      const file = namedVariable('GOOGLE_APPLICATION_CREDENTIALS')!;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw usageError('BAD_DESTINATION', `GOOGLE_APPLICATION_CREDENTIALS names ${file}, which cannot be read: fix the path or give --credentials.`, { field: 'credentials' });
      }
      parseCredentials(text, `in ${file}`);
      secrets.credentials = text;
    }
    return { config: { ...config } as Record<string, unknown>, secrets };
  },

  open: openGcs,
} satisfies StorageBackend;
