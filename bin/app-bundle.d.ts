// Types of bin/app-bundle.js (plain JavaScript, as bin/coffre.js) for the TypeScript that imports it (its test).
export declare const APP_BUNDLE_FORMAT: number;
/** `{ url }` of the bundle's main module when it is fresh for the tree at `root`, else `{ stale }`, why not. */
export declare function appBundleState(root: string, dir?: string): { url: string; stale?: undefined } | { url?: undefined; stale: string };
/** The URL of the bundle's main module when it is fresh for the tree at `root`, else undefined. */
export declare function freshAppBundle(root: string, dir?: string): string | undefined;
