// An explicit registry keyed by name: one implementation per name, a duplicate is a programming error,
// an unknown name is a usage error that lists the known ones (never a warning and a no-op).

import { usageError } from './errors.ts';

export class Registry<T> {
  private readonly items = new Map<string, T>();
  private readonly what: string;
  private readonly code: string;
  /** `code`: the error code of an unknown name (default UNKNOWN_<WHAT>), when the name's checks already have one. */
  constructor(what: string, code = `UNKNOWN_${what.toUpperCase().replace(/\W+/g, '_')}`) {
    this.what = what;
    this.code = code;
  }

  register(name: string, item: T): this {
    if (this.items.has(name)) throw new Error(`${this.what} "${name}" is registered twice`);
    this.items.set(name, item);
    return this;
  }

  get(name: string): T {
    const item = this.items.get(name);
    if (item === undefined) {
      throw usageError(this.code, `Unknown ${this.what} "${name}": use one of ${this.names().join(', ')}.`);
    }
    return item;
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  names(): string[] {
    return [...this.items.keys()];
  }
}
