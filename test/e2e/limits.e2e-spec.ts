import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { bearer, bootstrapToken, clusterBody, tokensByRole, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { createMigratedDatabase, dropDatabase, withClient } from '../helpers/postgres';

interface Answer {
  status: number;
  retryAfter: string | null;
  contentType: string | null;
  code?: string;
}

/** Real sockets (fetch), so hundreds of requests are really in flight at once. */
async function call(
  base: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let code: string | undefined;
  if (res.status >= 400) code = (JSON.parse(text) as { code?: string }).code;
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    contentType: res.headers.get('content-type'),
    code,
  };
}

function expectOnly2xxOr429(answers: Answer[]): void {
  const statuses = [...new Set(answers.map((a) => a.status))].sort();
  expect(statuses.filter((s) => !(s >= 200 && s < 300) && s !== 429)).toEqual([]);
  for (const a of answers.filter((x) => x.status === 429)) {
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(a.contentType).toMatch(/^application\/problem\+json/);
    expect(['rate-limited', 'overloaded']).toContain(a.code);
  }
}

async function listen(t: TestApp): Promise<string> {
  await t.app.listen(0, '127.0.0.1');
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

describe('rate and concurrency limits', () => {
  let db: { name: string; url: string };

  beforeAll(async () => {
    db = await createMigratedDatabase('crossdock_limits');
  });
  afterAll(async () => {
    if (db) await dropDatabase(db.name);
  });

  async function policyTarget(t: TestApp): Promise<string> {
    const admin = bearer(bootstrapToken());
    const site = await t.http
      .post('/sites')
      .set(admin)
      .send({ name: uniqueName('lim'), region: 'r' })
      .expect(201);
    const cluster = await t.http.post('/clusters').set(admin).send(clusterBody(site.body.id));
    expect(cluster.status).toBe(201);
    return cluster.body.id as string;
  }

  const policy = (clusterId: string, i: number, tag: string) => ({
    name: `${tag}-${i}`,
    scope: 'cluster',
    clusterId,
    vhost: '/',
    pattern: `^${tag}-q${i}$`,
    applyTo: 'queues',
    definition: { 'max-length': 1000 + i },
  });

  it('300 concurrent POST /policies with the default limits end as 2xx or 429 with Retry-After, none 503', async () => {
    const t = await createTestApp({
      DATABASE_URL: db.url,
      RATE_LIMIT_TOKEN_PER_SECOND: '50',
      RATE_LIMIT_ADDRESS_PER_SECOND: '20',
    });
    try {
      const base = await listen(t);
      const clusterId = await policyTarget(t);
      const { operator } = await tokensByRole(t.http, 'limits');
      // The token's first request makes it known (until then it counts against the address).
      expect((await call(base, 'GET', '/policies?limit=1', operator)).status).toBe(200);
      const tag = `d${randomBytes(2).toString('hex')}`;
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          call(base, 'POST', '/policies', operator, policy(clusterId, i, tag)),
        ),
      );
      expectOnly2xxOr429(answers);
      const created = answers.filter((a) => a.status === 201).length;
      // Every 201 is a stored row; nothing half-written behind a 429.
      const [{ n }] = await withClient(db.url, async (c) => {
        const r = await c.query<{ n: string }>(
          `SELECT count(*) AS n FROM policies WHERE name LIKE $1`,
          [`${tag}-%`],
        );
        return r.rows;
      });
      expect(Number(n)).toBe(created);
    } finally {
      await t.close();
    }
  });

  it('300 concurrent writes and 100 reads on a 4-connection pool: 2xx or 429, none 503', async () => {
    const t = await createTestApp({
      DATABASE_URL: db.url,
      DB_POOL_SIZE: '4',
      // 400 requests share this process's event loop with the service: a new connection's
      // handshake can be read late, and a connect timeout is an outage signal (503) by design.
      DB_CONNECT_TIMEOUT_MS: '5000',
      WRITE_QUEUE_TIMEOUT_MS: '20000',
    });
    try {
      const base = await listen(t);
      const clusterId = await policyTarget(t);
      const token = bootstrapToken();
      const tag = `p${randomBytes(2).toString('hex')}`;
      const writes = Array.from({ length: 300 }, (_, i) =>
        call(base, 'POST', '/policies', token, policy(clusterId, i, tag)),
      );
      const reads = Array.from({ length: 100 }, () =>
        call(base, 'GET', `/policies?clusterId=${clusterId}&limit=200`, token),
      );
      const answers = await Promise.all([...writes, ...reads]);
      expectOnly2xxOr429(answers);
      expect(answers.slice(0, 300).filter((a) => a.status === 201).length).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });

  it('limits unauthenticated callers per address, made-up tokens included, and tokens on their own', async () => {
    const t = await createTestApp({
      DATABASE_URL: db.url,
      RATE_LIMIT_ADDRESS_PER_SECOND: '1',
      RATE_LIMIT_ADDRESS_BURST: '5',
      RATE_LIMIT_TOKEN_PER_SECOND: '1',
      RATE_LIMIT_TOKEN_BURST: '5',
    });
    try {
      const base = await listen(t);
      const anonymous = await Promise.all(
        Array.from({ length: 10 }, () => call(base, 'GET', '/health/live', undefined)),
      );
      // The burst of 5, plus at most a refill or two while the requests arrive.
      expect(anonymous.filter((a) => a.status === 200).length).toBeLessThanOrEqual(7);
      expect(anonymous.some((a) => a.status === 429)).toBe(true);
      expectOnly2xxOr429(anonymous);
      const guessed = await call(base, 'GET', '/sites', `cdk_${randomBytes(16).toString('hex')}`);
      expect(guessed).toMatchObject({ status: 429, code: 'rate-limited' });

      // A token that authenticated before has a bucket of its own, apart from the address's.
      const token = bootstrapToken();
      const first = await call(base, 'GET', '/sites?limit=1', token).catch(() => undefined);
      expect([200, 429]).toContain(first?.status);
      // Wait for the address to have a token for the (still unknown) token's first request.
      let known = first?.status === 200;
      for (let i = 0; i < 30 && !known; i++) {
        await new Promise((r) => setTimeout(r, 200));
        known = (await call(base, 'GET', '/sites?limit=1', token)).status === 200;
      }
      expect(known).toBe(true);
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => call(base, 'GET', '/sites?limit=1', token)),
      );
      expect(burst.filter((a) => a.status === 200).length).toBe(5);
      expectOnly2xxOr429(burst);
      expect(burst.find((a) => a.status === 429)?.code).toBe('rate-limited');
    } finally {
      await t.close();
    }
  });
});
