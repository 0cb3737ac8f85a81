import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Role } from '../../src/common/actor/actor';
import { bearer, tokensByRole, uniqueName } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { freePort } from '../helpers/ports';

/**
 * A management listener that records every Authorization header it is sent (and answers 401,
 * like a broker refusing the login), listening on all IPv4 addresses so 127.0.0.x host changes
 * still reach it.
 */
class RecordingListener {
  readonly authorizations: string[] = [];
  requests = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<RecordingListener> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const l = new RecordingListener(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => {
      l.requests += 1;
      if (req.headers.authorization) l.authorizations.push(req.headers.authorization);
      res.writeHead(401, { 'content-type': 'application/json', connection: 'close' });
      res.end('{"error":"not_authorised","reason":"Login failed"}');
    });
    return l;
  }

  reset(): void {
    this.authorizations.length = 0;
    this.requests = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const password = 'Endp0int-B0und-Secret';
const credentials = { username: 'admin-user', password };
const basic = `Basic ${Buffer.from(`admin-user:${password}`).toString('base64')}`;

describe('admin credentials are bound to their endpoints', () => {
  let t: TestApp;
  let tok: Record<Role, string>;
  let legit: RecordingListener;
  let attacker: RecordingListener;
  let closedAmqp: number;
  let siteId: string;

  beforeAll(async () => {
    t = await createTestApp({ BROKER_HTTP_TIMEOUT_MS: '1000' });
    tok = await tokensByRole(t.http, 'endpoint-creds');
    legit = await RecordingListener.start();
    attacker = await RecordingListener.start();
    closedAmqp = await freePort();
    const site = await t.http
      .post('/sites')
      .set(bearer(tok.admin))
      .send({ name: uniqueName('s'), region: 'eu-west' })
      .expect(201);
    siteId = site.body.id;
  });
  afterAll(async () => {
    await legit.close();
    await attacker.close();
    await t.close();
  });

  /** A cluster whose credentials were entered for the legit listener. */
  async function boundCluster(): Promise<{ id: string; nodeId: string }> {
    const name = uniqueName('c');
    const res = await t.http
      .post('/clusters')
      .set(bearer(tok.admin))
      .send({
        siteId,
        name,
        brokerClusterName: `bcn-${name}`,
        linkEndpoints: [{ host: '127.0.0.1', port: closedAmqp }],
        credentials,
        nodes: [
          {
            name: `rabbit@${name}-1`,
            host: '127.0.0.1',
            amqpPort: closedAmqp,
            managementPort: legit.port,
          },
        ],
      })
      .expect(201);
    expect(res.body.credentialsRebindRequired).toBe(false);
    return { id: res.body.id, nodeId: res.body.nodes[0].id };
  }

  /** Observation (operator), a pass (operator) and a viewer's plan: each one would log in. */
  async function triggerEverything(clusterId: string) {
    const observation = await t.http
      .post(`/clusters/${clusterId}/observation`)
      .set(bearer(tok.operator));
    const pass = await t.http
      .post('/reconcile')
      .set(bearer(tok.operator))
      .send({ clusterId })
      .expect(200);
    const plan = await t.http
      .get(`/clusters/${clusterId}/plan`)
      .set(bearer(tok.viewer))
      .expect(200);
    return { observation, pass: pass.body.runs[0], plan: plan.body };
  }

  async function expectBlocked(clusterId: string) {
    legit.reset();
    attacker.reset();
    const cluster = await t.http.get(`/clusters/${clusterId}`).set(bearer(tok.viewer)).expect(200);
    expect(cluster.body.credentialsRebindRequired).toBe(true);
    const { observation, pass, plan } = await triggerEverything(clusterId);
    expect(observation.status).toBe(409);
    expect(observation.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(observation.body.type).toMatch(/credentials-rebind-required$/);
    for (const run of [pass, plan]) {
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/entered for other endpoints/);
    }
    expect(attacker.authorizations).toEqual([]);
    expect(legit.authorizations).toEqual([]);
    expect(attacker.requests + legit.requests).toBe(0);
  }

  it('sends the credentials where they were entered (the listener does record them)', async () => {
    const c = await boundCluster();
    legit.reset();
    await triggerEverything(c.id);
    expect(legit.authorizations.length).toBeGreaterThan(0);
    expect(new Set(legit.authorizations)).toEqual(new Set([basic]));
  });

  it('a node moved to another management port gets no credentials', async () => {
    const c = await boundCluster();
    await t.http
      .patch(`/clusters/${c.id}/nodes/${c.nodeId}`)
      .set(bearer(tok.admin))
      .send({ managementPort: attacker.port })
      .expect(200);
    await expectBlocked(c.id);
  });

  it('a node moved to another host gets no credentials', async () => {
    const c = await boundCluster();
    await t.http
      .patch(`/clusters/${c.id}/nodes/${c.nodeId}`)
      .set(bearer(tok.admin))
      .send({ host: '127.0.0.2' }) // the same listener answers there: only the binding stops it
      .expect(200);
    await expectBlocked(c.id);
  });

  it('a new node blocks the stored credentials for every node', async () => {
    const c = await boundCluster();
    await t.http
      .post(`/clusters/${c.id}/nodes`)
      .set(bearer(tok.admin))
      .send({
        name: `rabbit@${uniqueName('n')}`,
        host: '127.0.0.1',
        amqpPort: closedAmqp,
        managementPort: attacker.port,
      })
      .expect(201);
    await expectBlocked(c.id);
  });

  it('a change of management scheme blocks them too', async () => {
    const c = await boundCluster();
    await t.http
      .patch(`/clusters/${c.id}`)
      .set(bearer(tok.admin))
      .send({ managementScheme: 'https' })
      .expect(200);
    await expectBlocked(c.id);
  });

  it('no sequence of changes unblocks them; entering them again does', async () => {
    const c = await boundCluster();
    const node = `/clusters/${c.id}/nodes/${c.nodeId}`;
    await t.http
      .patch(node)
      .set(bearer(tok.admin))
      .send({ managementPort: attacker.port })
      .expect(200);
    await t.http.patch(node).set(bearer(tok.admin)).send({ host: '127.0.0.3' }).expect(200);
    await t.http
      .patch(`/clusters/${c.id}`)
      .set(bearer(tok.admin))
      .send({ managementScheme: 'https' })
      .expect(200);
    await t.http
      .patch(`/clusters/${c.id}`)
      .set(bearer(tok.admin))
      .send({ managementScheme: 'http', name: uniqueName('renamed') })
      .expect(200);
    await expectBlocked(c.id);

    // Only the credentials themselves, entered for the endpoint as it is now, unblock it.
    await t.http
      .put(`/clusters/${c.id}/credentials`)
      .set(bearer(tok.admin))
      .send(credentials)
      .expect(200);
    attacker.reset();
    await triggerEverything(c.id);
    expect(attacker.authorizations.length).toBeGreaterThan(0);
  });

  it('credentials in the same request rebind them to the new endpoint at once', async () => {
    const c = await boundCluster();
    const res = await t.http
      .patch(`/clusters/${c.id}/nodes/${c.nodeId}`)
      .set(bearer(tok.admin))
      .send({ managementPort: attacker.port, credentials })
      .expect(200);
    expect(JSON.stringify(res.body)).not.toContain(password);
    const cluster = await t.http.get(`/clusters/${c.id}`).set(bearer(tok.viewer)).expect(200);
    expect(cluster.body.credentialsRebindRequired).toBe(false);
    attacker.reset();
    await triggerEverything(c.id);
    expect(attacker.authorizations.length).toBeGreaterThan(0);
    const events = await t.http.get(`/audit?clusterId=${c.id}`).set(bearer(tok.admin)).expect(200);
    expect(JSON.stringify(events.body)).not.toContain(password);
  });

  describe('BROKER_ALLOWED_NETWORKS', () => {
    let fenced: TestApp;
    beforeAll(async () => {
      fenced = await createTestApp({
        BROKER_ALLOWED_NETWORKS: '10.0.0.0/8, fd00::/8',
        BROKER_HTTP_TIMEOUT_MS: '1000',
      });
    });
    afterAll(() => fenced.close());

    it('refuses endpoints outside the list on write', async () => {
      const name = uniqueName('c');
      const body = {
        siteId,
        name,
        brokerClusterName: `bcn-${name}`,
        linkEndpoints: [{ host: '10.1.2.3', port: 5672 }],
        credentials,
        nodes: [
          { name: `rabbit@${name}-1`, host: '127.0.0.1', amqpPort: 5672, managementPort: 15672 },
        ],
      };
      const refused = await fenced.http
        .post('/clusters')
        .set(bearer(tok.admin))
        .send(body)
        .expect(400);
      expect(refused.body.errors).toEqual([
        expect.objectContaining({
          field: 'nodes.0.host',
          message: expect.stringMatching(/outside BROKER_ALLOWED_NETWORKS/),
        }),
      ]);
      const ok = await fenced.http
        .post('/clusters')
        .set(bearer(tok.admin))
        .send({ ...body, nodes: [{ ...body.nodes[0], host: '10.9.8.7' }] })
        .expect(201);
      await fenced.http
        .patch(`/clusters/${ok.body.id}/nodes/${ok.body.nodes[0].id}`)
        .set(bearer(tok.admin))
        .send({ host: '127.0.0.1' })
        .expect(400);
      await fenced.http
        .post(`/clusters/${ok.body.id}/nodes`)
        .set(bearer(tok.admin))
        .send({ name: `rabbit@${name}-2`, host: '::1', amqpPort: 5672, managementPort: 15672 })
        .expect(400);
    });

    it('refuses to connect outside the list, even to endpoints stored before', async () => {
      const c = await boundCluster(); // written by the unfenced app
      legit.reset();
      const obs = await fenced.http.post(`/clusters/${c.id}/observation`).set(bearer(tok.operator));
      expect(obs.status).toBeLessThan(500);
      expect(JSON.stringify(obs.body)).toMatch(/outside BROKER_ALLOWED_NETWORKS/);
      const plan = await fenced.http
        .get(`/clusters/${c.id}/plan`)
        .set(bearer(tok.viewer))
        .expect(200);
      expect(plan.body.status).toBe('failed');
      expect(legit.requests).toBe(0);
    });
  });
});
