import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { bearer, bootstrapToken, clusterBody, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { scanTexts, type KnownSecret } from '../helpers/secret-scan';
import { dataSourceOf } from './conformance/support';

const admin = () => bearer(bootstrapToken());

/**
 * A management endpoint that echoes what it received, in the encodings seen in the field: the
 * Authorization header (Basic base64), a URI with JSON-escaped slashes, a percent-encoded URI
 * and a RabbitMQ password_hash. Whatever path reads it (observation, reconcile pass), the
 * credentials must not reach a response, a run, a stored observation, an audit event or a log line.
 */
describe('credentials echoed by a broker are redacted by shape at every sink', () => {
  let t: TestApp;
  let echo: Server;
  let port: number;
  let hits = 0;
  const password = `Echo-${randomBytes(6).toString('hex')}-Pw`;
  const salt = randomBytes(4);
  const passwordHash = Buffer.concat([
    salt,
    createHash('sha256')
      .update(Buffer.concat([salt, Buffer.from(password)]))
      .digest(),
  ]).toString('base64');
  const secrets: KnownSecret[] = [
    { label: 'admin password', value: password },
    { label: 'password hash', value: passwordHash },
  ];
  const seen: { where: string; text: string }[] = [];

  beforeAll(async () => {
    echo = createServer((req, res) => {
      hits += 1;
      const reason = [
        `you sent authorization: ${req.headers.authorization ?? ''}`,
        `upstream "amqp:\\/\\/link:${password}@remote:5672\\/v"`,
        `uri=amqp%3A%2F%2Flink%3A${encodeURIComponent(password)}%40remote`,
        `{"name":"crossdock-link","password_hash":"${passwordHash}","tags":""}`,
      ].join(' ');
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad_request', reason }));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    port = (echo.address() as AddressInfo).port;
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
    await new Promise<void>((resolve) => echo?.close(() => resolve()));
  });

  it('keeps them out of responses, runs, observations, audit events and logs', async () => {
    const site = await t.http
      .post('/sites')
      .set(admin())
      .send({ name: uniqueName('echo'), region: 'r' })
      .expect(201);
    const body = clusterBody(site.body.id, {
      credentials: { username: 'echo-admin', password },
    });
    body.nodes = body.nodes.map((n) => ({ ...n, host: '127.0.0.1', managementPort: port }));
    const cluster = await t.http.post('/clusters').set(admin()).send(body).expect(201);
    const id = cluster.body.id as string;

    const record = (where: string, res: { text: string; headers: object }) => {
      seen.push({ where, text: `${JSON.stringify(res.headers)}\n${res.text}` });
      return res;
    };
    record('observe', await t.http.post(`/clusters/${id}/observation`).set(admin()));
    record('observation', await t.http.get(`/clusters/${id}/observation`).set(admin()));
    const pass = record(
      'reconcile',
      await t.http.post('/reconcile').set(admin()).send({ clusterId: id }),
    );
    record('runs', await t.http.get('/reconcile/runs').query({ clusterId: id }).set(admin()));
    record('plan', await t.http.get(`/clusters/${id}/plan`).set(admin()));
    record('audit', await t.http.get('/audit?limit=200').set(admin()));
    expect(hits).toBeGreaterThan(0);

    const ds = dataSourceOf(t);
    const stored = async (sql: string, params: unknown[] = []) =>
      JSON.stringify(await ds.query(sql, params));
    const runs = await stored(
      `SELECT summary, operations, findings, error FROM reconcile_runs WHERE cluster_id = $1`,
      [id],
    );
    const observation = await stored(`SELECT last_observation FROM clusters WHERE id = $1`, [id]);
    const audit = await stored(`SELECT payload FROM audit_events ORDER BY seq DESC LIMIT 200`);
    // The echo reached the sinks (scrubbed), so the scan below is not vacuous.
    expect(`${runs}${observation}${JSON.stringify(pass.text)}`).toContain('(redacted)');

    await t.close();
    const findings = scanTexts(
      [
        ...seen,
        { where: 'stored runs', text: runs },
        { where: 'stored observation', text: observation },
        { where: 'audit events', text: audit },
        { where: 'log file', text: readFileSync(t.logFile, 'utf8') },
      ],
      [
        ...secrets,
        // The Basic header the broker echoed back, as a whole.
        {
          label: 'Basic credentials',
          value: Buffer.from(`echo-admin:${password}`).toString('base64'),
        },
      ],
    );
    expect(findings).toEqual([]);
  });
});
