import { Client } from 'pg';

/**
 * Session advisory locks for probe paths, all on one dedicated connection: a path is probed by
 * the instance holding its lock, and the locks vanish with the connection (a dead replica, a
 * database restart). The session also carries `idle_session_timeout`, so a frozen replica that
 * stops pinging loses its locks within that time and another one takes its paths over.
 */
export class PathLocks {
  private client?: Client;
  private readonly held = new Set<string>();
  private connecting?: Promise<Client | undefined>;

  private readonly key: string;

  constructor(
    private readonly url: string,
    private readonly connectTimeoutMs: number,
    private readonly idleTimeoutMs: number,
    /** Lock key namespace: 'probe' (paths), 'overflow' (rules). */
    private readonly namespace = 'probe',
  ) {
    this.key = `hashtextextended('crossdock:${this.namespace}:' || p, 0)`;
  }

  get paths(): ReadonlySet<string> {
    return this.held;
  }

  private async connection(): Promise<Client | undefined> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const c = new Client({
        connectionString: this.url,
        connectionTimeoutMillis: this.connectTimeoutMs,
        application_name: `crossdock-${this.namespace}-locks`,
      });
      c.on('error', () => this.drop(c));
      c.on('end', () => this.drop(c));
      try {
        await c.connect();
        await c.query(`SET idle_session_timeout = ${Math.round(this.idleTimeoutMs)}`);
        this.client = c;
        return c;
      } catch {
        await c.end().catch(() => undefined);
        return undefined;
      }
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private drop(c: Client): void {
    if (this.client !== c) return;
    this.client = undefined;
    this.held.clear();
  }

  /**
   * Holds exactly the wanted paths this instance can get: takes free ones, releases unwanted
   * ones, and confirms the held ones are still held (one round trip for all of them).
   */
  async sync(wanted: readonly string[]): Promise<ReadonlySet<string>> {
    const c = await this.connection();
    if (!c) return this.held;
    const want = new Set(wanted);
    const release = [...this.held].filter((p) => !want.has(p));
    const take = wanted.filter((p) => !this.held.has(p));
    try {
      if (release.length) {
        await c.query(`SELECT pg_advisory_unlock(${this.key}) FROM unnest($1::text[]) AS p`, [
          release,
        ]);
        for (const p of release) this.held.delete(p);
      }
      if (take.length) {
        const res = await c.query<{ p: string; ok: boolean }>(
          `SELECT p, pg_try_advisory_lock(${this.key}) AS ok FROM unnest($1::text[]) AS p`,
          [take],
        );
        for (const r of res.rows) if (r.ok) this.held.add(r.p);
      } else {
        await c.query('SELECT 1');
      }
    } catch {
      this.drop(c);
      await c.end().catch(() => undefined);
    }
    return this.held;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.held.clear();
    await c?.end().catch(() => undefined);
  }
}
