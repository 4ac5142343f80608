// Waiting on a condition instead of a fixed sleep: polls `check` until it returns a value (anything but
// undefined, null or false), and fails naming what was awaited once `limitMs` passed.

/**
 * Polls `check` every `everyMs` until it yields a value; throws "gave up waiting for WHAT" after `limitMs`.
 * `what` may be a function, called then, to say what was seen instead.
 */
export async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string | (() => string),
  options: { limitMs?: number; everyMs?: number } = {},
): Promise<T> {
  const { limitMs = 30_000, everyMs = 20 } = options;
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${typeof what === 'function' ? what() : what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
