import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  loadSites,
  site,
  TestManagement,
  type SitesState,
} from '../helpers/sites';

const enc = encodeURIComponent;

/** Queue federation with mirroring and quorum queues under one pattern: one merged policy each. */
describe('queue federation merged with mirroring (real brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let consumer: ChannelModel | undefined;
  const vhost = `qfed-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    for (const m of [m1, m2]) {
      await m.request('PUT', `/api/queues/${enc(vhost)}/jobs.classic`, { durable: true });
      await m.request('PUT', `/api/queues/${enc(vhost)}/jobs.quorum`, {
        durable: true,
        arguments: { 'x-queue-type': 'quorum' },
      });
    }
    db = await createMigratedDatabase('crossdock_qfed');
    t = await createTestApp({ DATABASE_URL: db.url });
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost], {
      replication: [
        {
          pattern: '^jobs\\.',
          mode: 'classic',
          haMode: 'exactly',
          haParams: 2,
          haSyncMode: 'automatic',
        },
      ],
    });
  });
  afterAll(async () => {
    await consumer?.close().catch(() => undefined);
    await t?.close();
    if (db) await dropDatabase(db.name);
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });

  it('gives classic queues federation + mirroring, quorum queues federation only, and moves messages', async () => {
    await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'jobs-dc1-dc2',
        kind: 'queue',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targetPrefix: 'jobs.',
        settings: { reconnectDelaySeconds: 1 },
      })
      .expect(201);
    for (const c of [dc1, dc2]) {
      const run = (
        await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId }).expect(200)
      ).body.runs[0];
      expect(run.status).toBe('succeeded');
    }

    type Q = { policy?: string; effective_policy_definition?: Record<string, unknown> };
    const classic = await eventually(
      async () => {
        const q = await m2.request<Q>('GET', `/api/queues/${enc(vhost)}/jobs.classic`);
        return q.effective_policy_definition?.['federation-upstream'] ? q : false;
      },
      { timeoutMs: 15000, description: 'policy on jobs.classic' },
    );
    expect(classic.policy).toMatch(/^crossdock\.p\.q\./);
    expect(classic.effective_policy_definition).toMatchObject({
      'federation-upstream': 'crossdock.up.jobs-dc1-dc2',
      'ha-mode': 'exactly',
      'ha-params': 2,
    });

    const quorum = await eventually(
      async () => {
        const q = await m2.request<Q>('GET', `/api/queues/${enc(vhost)}/jobs.quorum`);
        return q.effective_policy_definition?.['federation-upstream'] ? q : false;
      },
      { timeoutMs: 15000, description: 'policy on jobs.quorum' },
    );
    expect(
      Object.keys(quorum.effective_policy_definition ?? {}).filter((k) => k.startsWith('ha-')),
    ).toEqual([]);
    expect(quorum.policy).not.toBe(classic.policy);

    // Queue federation pulls only for downstream consumers with spare capacity.
    const dc2node = site(state, 'dc2').nodes[0];
    consumer = await connect(
      `amqp://${enc(state.admin.username)}:${enc(state.admin.password)}@${dc2node.host}:${dc2node.amqpPort}/${enc(vhost)}`,
    );
    consumer.on('error', () => undefined);
    const ch = await consumer.createChannel();
    const got: string[] = [];
    await ch.consume('jobs.classic', (msg) => msg && got.push(msg.content.toString()), {
      noAck: true,
    });
    await eventually(
      async () =>
        (
          await m2.request<{ status: string }[]>('GET', `/api/federation-links/${enc(vhost)}`)
        ).filter((l) => l.status === 'running').length >= 2,
      {
        timeoutMs: 20000,
        description: 'queue federation links running',
      },
    );
    for (let i = 0; i < 3; i++) {
      await m1.request('POST', `/api/exchanges/${enc(vhost)}/amq.default/publish`, {
        properties: {},
        routing_key: 'jobs.classic',
        payload: `job-${i}`,
        payload_encoding: 'string',
      });
    }
    await eventually(() => got.length === 3, {
      timeoutMs: 20000,
      description: 'jobs consumed at dc2',
    });
    expect(got.sort()).toEqual(['job-0', 'job-1', 'job-2']);
  });
});
