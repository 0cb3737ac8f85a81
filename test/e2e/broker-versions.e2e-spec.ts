import { randomBytes } from 'node:crypto';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
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

/** Issue #5 on real 3.10.8 sites: keys the broker version does not know. */
describe('version-aware keys (real 3.10 brokers)', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let m1: TestManagement;
  let m2: TestManagement;
  const vhost = `ver-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vhost);
    for (const m of [m1, m2])
      for (const q of ['jobs.a', 'jobs.b'])
        await m.request('PUT', `/api/queues/${enc(vhost)}/${q}`, { durable: true });
  });
  afterAll(async () => {
    for (const m of [m1, m2]) await m?.deleteVhost(vhost);
  });
  // A registry of its own per test: each registers the local clusters afresh (never observed).
  beforeEach(async () => {
    db = await createMigratedDatabase('crossdock_versions');
    t = await createTestApp({ DATABASE_URL: db.url });
  });
  afterEach(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
  });

  const pair = async (): Promise<[RegisteredSite, RegisteredSite]> => [
    await registerLocalSite(t.http, state, site(state, 'dc1'), [vhost]),
    await registerLocalSite(t.http, state, site(state, 'dc2'), [vhost]),
  ];
  const clusterLabel = async (c: RegisteredSite) => {
    const s = await t.http.get(`/sites/${c.siteId}`).set(admin()).expect(200);
    return `${s.body.name as string}/main`;
  };

  it('rejects with 422 what a cluster known to run 3.10.8 does not know, naming key, cluster, version and minimum', async () => {
    const [dc1, dc2] = await pair();
    const observed = await t.http
      .post(`/clusters/${dc2.clusterId}/observation`)
      .set(admin())
      .expect(200);
    expect(observed.body.rabbitmqVersion).toBe('3.10.8');
    const label = await clusterLabel(dc2);

    const link = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: `typed-${randomBytes(2).toString('hex')}`,
        kind: 'queue',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['jobs.a'],
        settings: { queueType: 'quorum' },
      });
    expect(link.status).toBe(422);
    expect(link.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(link.body.code).toBe('unsupported-by-broker-version');
    expect(link.body.detail).toBe(
      `queue-type needs RabbitMQ >= 3.13.1; cluster ${label} runs 3.10.8`,
    );
    expect(link.body.errors).toEqual([{ field: 'settings.queueType', message: link.body.detail }]);
    expect(link.body.unsupported).toEqual([
      {
        key: 'queue-type',
        minimum: '3.13.1',
        clusterId: dc2.clusterId,
        cluster: label,
        version: '3.10.8',
      },
    ]);

    const policy = await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: `qq-${randomBytes(2).toString('hex')}`,
        scope: 'site',
        siteId: dc2.siteId,
        vhost,
        pattern: '^jobs\\.',
        applyTo: 'quorum_queues',
        definition: { 'delivery-limit': 5 },
      });
    expect(policy.status).toBe(422);
    expect(policy.body.detail).toBe(
      `apply-to: quorum_queues needs RabbitMQ >= 3.12.0; cluster ${label} runs 3.10.8`,
    );
    expect(policy.body.errors[0].field).toBe('applyTo');

    // A link accepted without the key cannot get it later either; nothing was stored or audited.
    const plain = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: `plain-${randomBytes(2).toString('hex')}`,
        kind: 'queue',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['jobs.a'],
      })
      .expect(201);
    const patched = await t.http
      .patch(`/links/federation/${plain.body.id}`)
      .set(admin())
      .send({ settings: { queueType: 'classic' } });
    expect(patched.status).toBe(422);
    const after = await t.http.get(`/links/federation/${plain.body.id}`).set(admin()).expect(200);
    expect(after.body.settings.queueType).toBeUndefined();
    expect(after.body.version).toBe(plain.body.version);
    const audit = await t.http.get(`/audit?resourceId=${plain.body.id}`).set(admin()).expect(200);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual([
      'federation-link.create',
    ]);
  });

  it('accepts for a cluster never observed (warning), then holds back what 3.10.8 does not know and applies the rest', async () => {
    const [dc1, dc2] = await pair();
    const label = await clusterLabel(dc2);
    const linkName = `typed-${randomBytes(2).toString('hex')}`;
    const typed = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: linkName,
        kind: 'queue',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['jobs.a'],
        settings: { queueType: 'quorum', reconnectDelaySeconds: 1 },
      })
      .expect(201);
    expect(typed.body.warnings).toContain(
      `queue-type needs RabbitMQ >= 3.13.1; the version of cluster ${label} is not known yet (validated when first observed)`,
    );
    const qq = await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: `qq-${randomBytes(2).toString('hex')}`,
        scope: 'cluster',
        clusterId: dc2.clusterId,
        vhost,
        pattern: '^jobs\\.b$',
        applyTo: 'quorum_queues',
        definition: { 'delivery-limit': 5 },
      })
      .expect(201);
    expect(qq.body.warnings.join(' ')).toMatch(/validated when first observed/);
    // The rest of the cluster: a plain policy and a link without version-gated keys.
    await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: `limits-${randomBytes(2).toString('hex')}`,
        scope: 'cluster',
        clusterId: dc2.clusterId,
        vhost,
        pattern: '^jobs\\.b$',
        applyTo: 'queues',
        definition: { 'max-length': 1000 },
      })
      .expect(201);
    const plainName = `plain-${randomBytes(2).toString('hex')}`;
    const plain = await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: plainName,
        kind: 'queue',
        downstream: { clusterId: dc2.clusterId, vhost },
        upstream: { clusterId: dc1.clusterId, vhost },
        targets: ['jobs.b'],
      })
      .expect(201);

    await t.http.post('/reconcile').set(admin()).send({ clusterId: dc1.clusterId }).expect(200);
    const run = (
      await t.http.post('/reconcile').set(admin()).send({ clusterId: dc2.clusterId }).expect(200)
    ).body.runs[0];
    expect(run.status).toBe('succeeded');
    const held = run.findings.filter((f: { kind: string }) => f.kind === 'held-back');
    expect(held.map((f: { owner: string }) => f.owner).sort()).toEqual(
      [`link:${typed.body.id}`, `policy:${qq.body.id}`].sort(),
    );
    const linkHeld = held.find((f: { owner: string }) => f.owner.startsWith('link:'));
    expect(linkHeld.detail).toBe(
      `link ${linkName} is held back (not applied): queue-type needs RabbitMQ >= 3.13.1; cluster ${label} runs 3.10.8`,
    );
    // Never sent: no operation of the run names the held-back link's upstream, the broker lacks it.
    const names = run.operations.map((o: { key: { name: string } }) => o.key.name);
    expect(names).not.toContain(`crossdock.up.${linkName}`);
    expect(names).toContain(`crossdock.up.${plainName}`);
    expect(run.summary.failed).toBe(0);
    const ups = await m2.request<{ name: string; value: Record<string, unknown> }[]>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}`,
    );
    expect(ups.map((u) => u.name)).toEqual([`crossdock.up.${plainName}`]);
    expect(ups[0].value['queue-type']).toBeUndefined();
    const pols = await m2.request<{ 'apply-to': string; definition: Record<string, unknown> }[]>(
      'GET',
      `/api/policies/${enc(vhost)}`,
    );
    expect(pols.some((p) => p['apply-to'] === 'quorum_queues')).toBe(false);
    expect(
      pols.some(
        (p) =>
          p.definition['max-length'] === 1000 &&
          p.definition['federation-upstream'] === `crossdock.up.${plainName}`,
      ),
    ).toBe(true);

    // Link status and plan carry the same reason.
    const status = await t.http
      .get(`/links/federation/${typed.body.id}/status`)
      .set(admin())
      .expect(200);
    expect(status.body.verdict).toBe('held-back');
    expect(status.body.heldBack).toBe(linkHeld.detail);
    const plainStatus = await t.http
      .get(`/links/federation/${plain.body.id}/status`)
      .set(admin())
      .expect(200);
    expect(plainStatus.body.verdict).not.toBe('held-back');
    expect(plainStatus.body.appliedGeneration).toBe(plainStatus.body.generation);
    expect(status.body.appliedGeneration).toBeLessThan(status.body.generation);
    const plan = await t.http.get(`/clusters/${dc2.clusterId}/plan`).set(admin()).expect(200);
    expect(plan.body.operations).toEqual([]);
    expect(plan.body.findings.filter((f: { kind: string }) => f.kind === 'held-back')).toHaveLength(
      2,
    );
    // The stored version now answers write-time checks.
    const cluster = await t.http.get(`/clusters/${dc2.clusterId}`).set(admin()).expect(200);
    expect(cluster.body.brokerVersion).toBe('3.10.8');
  });
});
