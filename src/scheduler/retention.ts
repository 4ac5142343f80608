// The retention policy moved to src/core/retention-policy.ts (services use it too); kept here for old imports.
export * from '../core/retention-policy.ts';
