/**
 * An in-memory stand-in for the TypeORM DataSource in unit tests of orchestrators: each query is
 * recorded and answered by the newest route whose pattern matches its SQL (no route: `[]`).
 * Transactions run their callback with a manager that answers through the same routes. Not
 * imported by application code; the SQL itself is proven against Postgres in test/e2e.
 */
export type QueryAnswer = (params: unknown[], sql: string) => unknown;

export interface RecordedQuery {
  sql: string;
  params: unknown[];
}

export class FakeDataSource {
  readonly queries: RecordedQuery[] = [];
  private readonly routes: { pattern: RegExp; answer: QueryAnswer }[] = [];
  readonly manager = { query: (sql: string, params?: unknown[]) => this.query(sql, params) };

  /** Answers queries matching `pattern` (newest route first) with a value or a function. */
  on(pattern: RegExp, answer: unknown): this {
    this.routes.unshift({
      pattern,
      answer: typeof answer === 'function' ? (answer as QueryAnswer) : () => answer,
    });
    return this;
  }

  query = (sql: string, params: unknown[] = []): Promise<unknown> => {
    this.queries.push({ sql, params });
    const route = this.routes.find((r) => r.pattern.test(sql));
    try {
      return Promise.resolve(route ? route.answer(params, sql) : []);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };

  transaction = <T>(fn: (m: FakeDataSource['manager']) => Promise<T>): Promise<T> =>
    fn(this.manager);

  /** The parameters of every recorded query matching `pattern`. */
  ran(pattern: RegExp): unknown[][] {
    return this.queries.filter((q) => pattern.test(q.sql)).map((q) => q.params);
  }
}
