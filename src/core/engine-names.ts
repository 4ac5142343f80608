// The engines' names with what a target URL says about them: the one table the EngineName union follows from
// (src/engines/index.ts registers each name's implementation; src/core/connection.ts parses URLs with it).
// Adding an engine is one entry here, its file, one registry line and its test.

export const engineUrls = {
  postgres: { schemes: ['postgres:', 'postgresql:'], defaultPort: 5432, example: 'postgres://user:pass@host:5432/db' },
  mysql: { schemes: ['mysql:', 'mariadb:'], defaultPort: 3306, example: 'mysql://user:pass@host:3306/db' },
  mongodb: { schemes: ['mongodb:', 'mongodb+srv:'], defaultPort: 27017, example: 'mongodb://user:pass@host:27017/db' },
  sqlite: { schemes: ['sqlite:'], defaultPort: undefined, example: 'sqlite:/absolute/path.db' },
} as const satisfies Record<string, { schemes: readonly string[]; defaultPort: number | undefined; example: string }>;

export type EngineName = keyof typeof engineUrls;
export const engineNames = Object.keys(engineUrls) as EngineName[];
