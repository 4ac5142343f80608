// The MongoDB URL options a target made through the API may carry. The driver acts on every option of the
// URL: some read files of this host (tlsCertificateKeyFile, tlsCAFile, tlsCRLFile) and present them to the
// server named in the URL, some hand out this host's cloud credentials (authMechanism=MONGODB-AWS or
// MONGODB-OIDC, authMechanismProperties) or route through another host (proxyHost). Through the API only the
// options below are accepted; the CLI, which runs with its user's own rights, may give any.

import { usageError } from '../core/errors.ts';

/** Options that only shape the connection to the server the URL names (lower-cased, as the driver matches them). */
const SAFE_OPTIONS = new Set(
  [
    'authSource',
    'authMechanism',
    'replicaSet',
    'directConnection',
    'loadBalanced',
    'tls',
    'ssl',
    'tlsInsecure',
    'tlsAllowInvalidCertificates',
    'tlsAllowInvalidHostnames',
    'connectTimeoutMS',
    'socketTimeoutMS',
    'serverSelectionTimeoutMS',
    'timeoutMS',
    'heartbeatFrequencyMS',
    'localThresholdMS',
    'maxIdleTimeMS',
    'waitQueueTimeoutMS',
    'maxPoolSize',
    'minPoolSize',
    'maxConnecting',
    'retryWrites',
    'retryReads',
    'readPreference',
    'readPreferenceTags',
    'maxStalenessSeconds',
    'readConcernLevel',
    'w',
    'wtimeoutMS',
    'journal',
    'compressors',
    'zlibCompressionLevel',
    'appName',
    'srvServiceName',
    'srvMaxHosts',
  ].map((o) => o.toLowerCase()),
);

/** Mechanisms that use only the user and password of the URL. */
const SAFE_MECHANISMS = new Set(['DEFAULT', 'SCRAM-SHA-1', 'SCRAM-SHA-256']);

/** Refuses a MongoDB URL whose options could reach this host's files or credentials (see the header). */
export function checkMongoUrlOptions(params: Record<string, string>): void {
  for (const [name, value] of Object.entries(params)) {
    if (!SAFE_OPTIONS.has(name.toLowerCase())) {
      throw usageError(
        'MONGO_OPTION_REFUSED',
        `The MongoDB URL option "${name.slice(0, 60)}" is not accepted through the API: it can make this server read its own files or use its own credentials. Allowed: authSource, replicaSet, tls, readPreference, timeouts and pool sizes (see the README); an operator may add such a target with \`coffre target add\`.`,
        { field: 'url', option: name.slice(0, 60) },
      );
    }
    if (name.toLowerCase() === 'authmechanism' && !SAFE_MECHANISMS.has(value.toUpperCase())) {
      throw usageError(
        'MONGO_OPTION_REFUSED',
        `The MongoDB authMechanism "${value.slice(0, 60)}" is not accepted through the API: only SCRAM-SHA-256, SCRAM-SHA-1 or DEFAULT (user and password from the URL); MONGODB-AWS, MONGODB-OIDC, GSSAPI, PLAIN and MONGODB-X509 would present this server's own credentials.`,
        { field: 'url', option: 'authMechanism' },
      );
    }
  }
}
