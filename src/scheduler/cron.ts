// The cron helpers moved to src/core/cron.ts (services use them too); kept here for old imports.
export * from '../core/cron.ts';
