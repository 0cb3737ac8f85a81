import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { definitionsKeys, type DefinitionsFile } from '../../src/definitions/definitions-file';
import { objectId } from '../../src/broker-topology/broker-paths';
import { isAccessKind } from '../../src/broker-topology/object-kinds';
import { canonicalText } from '../../src/reconciliation/canonical';
import type { ObjectKey, ObjectKind } from '../../src/reconciliation/broker-state';
import { bearer, bootstrapToken, tokensByRole } from '../helpers/api';
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
import type { Role } from '../../src/common/actor/actor';

const enc = encodeURIComponent;
const problem = /application\/problem\+json/;

describe('definitions: export a cluster desired state, import an existing cluster', () => {
  let t: TestApp;
  let db: { name: string; url: string };
  let state: SitesState;
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let m1: TestManagement;
  let m2: TestManagement;
  let tok: Record<Role, string>;
  const tag = randomBytes(3).toString('hex');
  const vx = `export-${tag}`;
  const vi = `import-${tag}`;
  const fresh = `loaded-${tag}`;
  const admin = () => bearer(bootstrapToken());

  const reconcile = async (clusterId: string) => {
    const res = await t.http.post('/reconcile').set(admin()).send({ clusterId }).expect(200);
    return res.body.runs[0] as { status: string; error: string | null; summary: object };
  };
  const publish = (
    m: TestManagement,
    vhost: string,
    exchange: string,
    key: string,
    payload: string,
  ) =>
    m.request<{ routed: boolean }>(
      'POST',
      `/api/exchanges/${enc(vhost)}/${enc(exchange)}/publish`,
      {
        properties: { delivery_mode: 2 },
        routing_key: key,
        payload,
        payload_encoding: 'string',
      },
    );
  const drain = async (m: TestManagement, vhost: string, queue: string) =>
    (
      await m.request<{ payload: string }[]>(
        'POST',
        `/api/queues/${enc(vhost)}/${enc(queue)}/get`,
        {
          count: 100,
          ackmode: 'ack_requeue_false',
          encoding: 'auto',
        },
      )
    ).map((x) => x.payload);
  const names = async (m: TestManagement, path: string) =>
    (await m.request<{ name: string }[]>('GET', path)).map((x) => x.name).sort();

  beforeAll(async () => {
    state = loadSites();
    [m1, m2] = await createSharedVhost(state, ['dc1', 'dc2'], vx);
    await createSharedVhost(state, ['dc1', 'dc2'], vi);
    db = await createMigratedDatabase('crossdock_definitions');
    t = await createTestApp({ DATABASE_URL: db.url });
    tok = await tokensByRole(t.http, 'defs');
    dc1 = await registerLocalSite(t.http, state, site(state, 'dc1'), [vx, vi]);
    dc2 = await registerLocalSite(t.http, state, site(state, 'dc2'), [vx, vi]);
  });
  afterAll(async () => {
    await t?.close();
    if (db) await dropDatabase(db.name);
    await m2?.request('DELETE', `/api/vhosts/${enc(fresh)}`).catch(() => undefined);
    await m1?.deleteVhost(vi);
    await m2?.deleteVhost(vi);
    for (const m of [m1, m2]) await m?.deleteVhost(vx);
  });

  it('exports every object of the plan as a loadable definitions file, with credentials only for an admin (audited)', async () => {
    await t.http
      .post('/links/federation')
      .set(admin())
      .send({
        name: 'events-x',
        kind: 'exchange',
        downstream: { clusterId: dc2.clusterId, vhost: vx },
        upstream: { clusterId: dc1.clusterId, vhost: vx },
        targets: ['events'],
      })
      .expect(201);
    await t.http
      .post('/links/shovels')
      .set(admin())
      .send({
        name: 'outbox-x',
        source: { clusterId: dc1.clusterId, vhost: vx, queue: 'outbox' },
        destination: { clusterId: dc2.clusterId, vhost: vx, queue: 'inbox' },
      })
      .expect(201);
    await t.http
      .post('/policies')
      .set(admin())
      .send({
        name: 'limits-x',
        scope: 'cluster',
        clusterId: dc2.clusterId,
        vhost: vx,
        pattern: '^inbox$',
        applyTo: 'queues',
        definition: { 'max-length': 1000 },
      })
      .expect(201);

    for (const c of [dc1, dc2]) {
      const plan = await t.http.get(`/clusters/${c.clusterId}/plan`).set(admin()).expect(200);
      // Access objects (the probe vhost, link users, permissions) are planned but not exported.
      const creates = (plan.body.operations as { op: string; key: ObjectKey }[])
        .filter((o) => o.op === 'create' && !isAccessKind(o.key.kind))
        .map((o) => objectId(o.key));
      expect(creates.length).toBeGreaterThanOrEqual(2);
      const res = await t.http
        .get(`/clusters/${c.clusterId}/definitions`)
        .set(bearer(tok.viewer))
        .expect(200);
      expect(res.headers['x-crossdock-credentials']).toBe('placeholder');
      const file = JSON.parse(res.text) as DefinitionsFile;
      const keys = definitionsKeys(file);
      for (const k of creates) expect(keys).toContain(k);
      expect(file.vhosts.map((v) => v.name)).toEqual(expect.arrayContaining([vx, vi]));
      expect(res.text).not.toContain(state.admin.password);
      if (c === dc2) expect(res.text).toContain(':(link-user-password)@');
    }

    // Credentials: admin only.
    for (const role of ['viewer', 'operator'] as const) {
      const denied = await t.http
        .get(`/clusters/${dc2.clusterId}/definitions?credentials=include`)
        .set(bearer(tok[role]))
        .expect(403);
      expect(denied.headers['content-type']).toMatch(problem);
    }
    const bad = await t.http
      .get(`/clusters/${dc2.clusterId}/definitions?credentials=yes`)
      .set(admin())
      .expect(400);
    expect(bad.headers['content-type']).toMatch(problem);
    const withCreds = await t.http
      .get(`/clusters/${dc2.clusterId}/definitions?credentials=include`)
      .set(bearer(tok.admin))
      .expect(200);
    expect(withCreds.headers['x-crossdock-credentials']).toBe('included');
    const file = JSON.parse(withCreds.text) as DefinitionsFile;
    const upstream = file.parameters.find(
      (p) => p.component === 'federation-upstream' && p.vhost === vx,
    );
    const uri = (upstream?.value as { uri: string[] }).uri[0];
    const password = decodeURIComponent(/^amqp:\/\/[^:]+:([^@]+)@/.exec(uri)?.[1] ?? '');
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(password).not.toBe('(link-user-password)');
    // Without the flag the secret never shows; the audit names the access, never the secret.
    const plain = await t.http
      .get(`/clusters/${dc2.clusterId}/definitions`)
      .set(bearer(tok.admin))
      .expect(200);
    expect(plain.text).not.toContain(password);
    expect(plain.text).not.toContain(enc(password));
    const audit = await t.http
      .get('/audit')
      .query({ clusterId: dc2.clusterId, action: 'cluster.definitions.export-credentials' })
      .set(admin())
      .expect(200);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].actor).toMatchObject({ kind: 'token', role: 'admin' });
    const trail = await t.http.get('/audit/export').set(admin()).expect(200);
    expect(trail.text).not.toContain(password);

    // Loaded with credentials into a fresh vhost, the broker holds exactly the exported objects.
    const rehome = <T extends { vhost: string }>(xs: T[]) =>
      xs.filter((x) => x.vhost === vx).map((x) => ({ ...x, vhost: fresh }));
    const load = {
      vhosts: [{ name: fresh }],
      parameters: rehome(file.parameters),
      policies: rehome(file.policies),
      queues: rehome(file.queues),
      exchanges: rehome(file.exchanges),
      bindings: rehome(file.bindings),
    };
    expect(load.parameters.length + load.policies.length).toBeGreaterThanOrEqual(3);
    await m2.request('POST', '/api/definitions', load);
    const back = await m2.request<{
      parameters: { component: string; name: string; value: unknown }[];
      policies: {
        name: string;
        pattern: string;
        'apply-to': string;
        definition: unknown;
        priority: number;
      }[];
    }>('GET', `/api/definitions/${enc(fresh)}`);
    const params = (xs: { component: string; name: string; value: unknown }[]) =>
      xs
        .map((p) => `${p.component} ${p.name} ${canonicalText(p.component as ObjectKind, p.value)}`)
        .sort();
    const pols = (
      xs: {
        name: string;
        pattern: unknown;
        'apply-to': unknown;
        definition: unknown;
        priority: unknown;
      }[],
    ) =>
      xs
        .map(
          (p) =>
            `${p.name} ${canonicalText('policy', {
              pattern: p.pattern,
              'apply-to': p['apply-to'],
              definition: p.definition,
              priority: p.priority,
            })}`,
        )
        .sort();
    expect(params(back.parameters)).toEqual(params(load.parameters));
    expect(pols(back.policies)).toEqual(pols(load.policies));
  });

  it('previews an import without writing, adopts, and after a pass messages still cross with one policy per object', async () => {
    const l1 = site(state, 'dc1').link;
    const adminUri = `amqp://${enc(state.admin.username)}:${enc(state.admin.password)}@${l1.host}:${l1.port}/${enc(vi)}`;
    for (const m of [m1, m2])
      await m.request('PUT', `/api/exchanges/${enc(vi)}/orders`, { type: 'topic', durable: true });
    await m2.request('PUT', `/api/exchanges/${enc(vi)}/audit`, { type: 'fanout', durable: true });
    await m2.request('PUT', `/api/queues/${enc(vi)}/orders-sink`, { durable: true });
    await m2.request('POST', `/api/bindings/${enc(vi)}/e/orders/q/orders-sink`, {
      routing_key: '#',
    });
    await m2.request('PUT', `/api/queues/${enc(vi)}/inbox`, { durable: true });
    await m2.request('PUT', `/api/queues/${enc(vi)}/outbox2`, { durable: true });
    await m1.request('PUT', `/api/queues/${enc(vi)}/inbox2`, { durable: true });
    // Planted by hand on dc2: a federation upstream (admin credentials in its URI) + its policy,
    // a plain policy, the dangerous `all` set, an unused stray upstream and a shovel to dc1.
    const put = (path: string, body: unknown) => m2.request('PUT', path, body);
    await put(`/api/parameters/federation-upstream/${enc(vi)}/from-dc1`, {
      // never: the stopping hand-made link leaves the upstream queue to crossdock's link.
      value: { uri: adminUri, 'reconnect-delay': 1, 'resource-cleanup-mode': 'never' },
    });
    await put(`/api/parameters/federation-upstream/${enc(vi)}/stray`, {
      value: { uri: 'amqp://nowhere.invalid' },
    });
    await put(`/api/policies/${enc(vi)}/fed-orders`, {
      pattern: '^orders$',
      definition: { 'federation-upstream': 'from-dc1' },
      priority: 1,
      'apply-to': 'exchanges',
    });
    await put(`/api/policies/${enc(vi)}/limits`, {
      pattern: '^inbox$',
      definition: { 'max-length': 1000 },
      priority: 0,
      'apply-to': 'queues',
    });
    await put(`/api/policies/${enc(vi)}/everything`, {
      pattern: '^audit$',
      definition: { 'federation-upstream-set': 'all' },
      priority: 0,
      'apply-to': 'exchanges',
    });
    await put(`/api/parameters/shovel/${enc(vi)}/to-dc1`, {
      value: {
        'src-uri': `amqp:///${enc(vi)}`,
        'src-queue': 'outbox2',
        'dest-uri': adminUri,
        'dest-queue': 'inbox2',
        'reconnect-delay': 1,
      },
    });
    const bound = async () =>
      (
        await m1.request<{ destination: string }[]>(
          'GET',
          `/api/exchanges/${enc(vi)}/orders/bindings/source`,
        )
      ).some((b) => b.destination.startsWith('federation:'));
    await eventually(bound, { timeoutMs: 30000, description: 'hand-made link bound upstream' });

    const brokerView = async () => ({
      upstreams: await names(m2, `/api/parameters/federation-upstream/${enc(vi)}`),
      shovels: await names(m2, `/api/parameters/shovel/${enc(vi)}`),
      policies: await m2.request<unknown[]>('GET', `/api/policies/${enc(vi)}`),
    });
    const registryView = async () => ({
      policies: (await t.http.get('/policies').set(admin())).body.items.length,
      links: (await t.http.get('/links/federation').set(admin())).body.items.length,
      shovels: (await t.http.get('/links/shovels').set(admin())).body.items.length,
      ledger: Number(
        (
          (await t.app.get(DataSource).query(`SELECT count(*) AS n FROM managed_objects`)) as {
            n: string;
          }[]
        )[0].n,
      ),
    });
    const brokerBefore = await brokerView();
    const registryBefore = await registryView();

    // Viewer may not import; a vhost crossdock does not manage is a 400.
    await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.viewer))
      .send({})
      .expect(403);
    const badVhost = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: true, vhosts: ['not-managed'] })
      .expect(400);
    expect(badVhost.headers['content-type']).toMatch(problem);

    const preview = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: true, vhosts: [vi] })
      .expect(200);
    expect(preview.text).not.toContain(state.admin.password);
    const verdicts = Object.fromEntries(
      (preview.body.items as { kind: string; name: string; action: string }[]).map((i) => [
        `${i.kind} ${i.name}`,
        i.action,
      ]),
    );
    expect(verdicts).toEqual({
      'federation-upstream from-dc1': 'adopt',
      'federation-upstream stray': 'skip',
      'policy fed-orders': 'adopt',
      'policy limits': 'adopt',
      'policy everything': 'skip',
      'shovel to-dc1': 'adopt',
    });
    const warnings = (preview.body.warnings as { name: string; detail: string }[])
      .map((w) => `${w.name}: ${w.detail}`)
      .join('\n');
    expect(warnings).toMatch(/everything: federation-upstream-set all/);
    expect(warnings).toMatch(/from-dc1: the upstream URI carries credentials/);
    expect(preview.body.created).toEqual([]);
    // The dry run changed nothing, at the broker or in the registry.
    expect(await brokerView()).toEqual(brokerBefore);
    expect(await registryView()).toEqual(registryBefore);

    // A publisher at dc1 runs through the handover: import, both passes, the link switching over.
    const sent: string[] = [];
    const unroutable: string[] = [];
    let publishing = true;
    const t0 = Date.now();
    const marks: string[] = [];
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        const payload = `g${i}`;
        const res = await publish(m1, vi, 'orders', 'o.live', payload);
        sent.push(payload);
        if (!res.routed) unroutable.push(`${payload}@${Date.now() - t0}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const done = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: false, vhosts: [vi] })
      .expect(200);
    expect(
      done.body.created.map((c: { type: string; name: string }) => `${c.type} ${c.name}`).sort(),
    ).toEqual(['federation-link from-dc1', 'policy limits', 'shovel to-dc1']);
    for (const action of [
      'federation-link.create',
      'policy.create',
      'shovel.create',
      'cluster.definitions.import',
    ]) {
      const a = await t.http.get('/audit').query({ action }).set(admin()).expect(200);
      const mine = a.body.items.filter(
        (e: { actor: { kind: string; role?: string } }) =>
          e.actor.kind === 'token' && e.actor.role === 'operator',
      );
      expect({ action, n: mine.length }).toEqual({ action, n: 1 });
    }
    const trail = await t.http.get('/audit/export').set(admin()).expect(200);
    expect(trail.text).not.toContain(state.admin.password);

    // dc1 first: it creates the link user the adopted link and shovel log in as.
    marks.push(`dc1 start ${Date.now() - t0}`);
    expect(await reconcile(dc1.clusterId)).toMatchObject({ status: 'succeeded' });
    marks.push(`dc2 start ${Date.now() - t0}`);
    expect(await reconcile(dc2.clusterId)).toMatchObject({ status: 'succeeded' });
    marks.push(`dc2 end ${Date.now() - t0}`);

    const after = await brokerView();
    // The adopted upstream keeps its name and was updated in place (now owned by the link).
    expect(after.upstreams).toEqual(['from-dc1', 'stray']);
    const adopted = await m2.request<{ value: Record<string, unknown> }>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vi)}/from-dc1`,
    );
    expect(adopted.value).toMatchObject({ 'resource-cleanup-mode': 'never', 'max-hops': 1 });
    expect(JSON.stringify(adopted.value)).not.toContain(state.admin.password);
    expect(after.shovels).toEqual(['crossdock.sh.to-dc1']);
    const policies = after.policies as {
      name: string;
      pattern: string;
      'apply-to': string;
      definition: object;
    }[];
    expect(policies.map((p) => p.name)).toContain('everything');
    expect(policies.map((p) => p.name)).not.toEqual(expect.arrayContaining(['fed-orders']));
    expect(policies.map((p) => p.name)).not.toContain('limits');
    // The dangerous policy was left exactly as planted.
    expect(policies.find((p) => p.name === 'everything')).toMatchObject({
      pattern: '^audit$',
      definition: { 'federation-upstream-set': 'all' },
    });
    // Exactly one policy matches each object the originals covered.
    const matching = (kind: 'queues' | 'exchanges', name: string) =>
      policies.filter(
        (p) =>
          (p['apply-to'] === 'all' || p['apply-to'] === kind) && new RegExp(p.pattern).test(name),
      );
    expect(matching('exchanges', 'orders')).toEqual([
      expect.objectContaining({ definition: { 'federation-upstream': 'from-dc1' } }),
    ]);
    expect(matching('queues', 'inbox')).toEqual([
      expect.objectContaining({ definition: { 'max-length': 1000 } }),
    ]);
    expect(matching('exchanges', 'audit').map((p) => p.name)).toEqual(['everything']);

    // Messages still cross the adopted link and the adopted shovel.
    await eventually(
      async () => {
        const links = await m2.request<{ upstream: string; status: string; exchange: string }[]>(
          'GET',
          `/api/federation-links/${enc(vi)}`,
        );
        return links.some(
          (l) => l.upstream === 'from-dc1' && l.exchange === 'orders' && l.status === 'running',
        );
      },
      { timeoutMs: 30000, description: 'adopted link running' },
    );
    await eventually(bound, { timeoutMs: 30000, description: 'adopted link bound upstream' });
    await new Promise((r) => setTimeout(r, 1000));
    publishing = false;
    await publisher;
    const arrived = new Set<string>();
    await eventually(
      async () => {
        for (const p of await drain(m2, vi, 'orders-sink')) arrived.add(p);
        return sent.every((p) => arrived.has(p));
      },
      {
        timeoutMs: 20000,
        intervalMs: 500,
        description: 'every message published during the handover arrived',
      },
    ).catch(() => undefined);
    const missing = sent.filter((p) => !arrived.has(p));
    expect(sent.length).toBeGreaterThanOrEqual(20);
    expect({ sent: sent.length, missing, unroutable, marks }).toEqual({
      marks,
      sent: sent.length,
      missing: [],
      unroutable: [],
    });
    await eventually(
      async () => {
        await publish(m1, vi, 'orders', 'o.created', 'after-import');
        return (await drain(m2, vi, 'orders-sink')).includes('after-import');
      },
      { timeoutMs: 30000, intervalMs: 1000, description: 'message crossed the adopted link' },
    );
    for (let i = 0; i < 3; i++) await publish(m2, vi, '', 'outbox2', `s${i}`);
    const got: string[] = [];
    await eventually(
      async () => {
        got.push(...(await drain(m1, vi, 'inbox2')));
        return got.length >= 3;
      },
      { timeoutMs: 30000, intervalMs: 500, description: 'messages crossed the adopted shovel' },
    );
    expect(got.sort()).toEqual(['s0', 's1', 's2']);

    // A second preview: what was adopted is crossdock's now; the rest is still left alone.
    const again = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: true, vhosts: [vi] })
      .expect(200);
    const adopt = (again.body.items as { action: string }[]).filter((i) => i.action === 'adopt');
    expect(adopt).toEqual([]);

    // A hand-made duplicate of the adopted link: previewed as a conflict, refused with 409.
    await put(`/api/parameters/federation-upstream/${enc(vi)}/dup`, {
      value: { uri: adminUri, 'resource-cleanup-mode': 'never' },
    });
    await put(`/api/policies/${enc(vi)}/fed-orders-again`, {
      pattern: '^orders$',
      definition: { 'federation-upstream': 'dup' },
      priority: 0,
      'apply-to': 'exchanges',
    });
    const dupPreview = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: true, vhosts: [vi] })
      .expect(200);
    expect(dupPreview.body.conflicts).toEqual([
      expect.objectContaining({
        name: 'fed-orders-again',
        detail: expect.stringMatching(/"from-dc1" already federates/),
      }),
    ]);
    const registryNow = await registryView();
    const refused = await t.http
      .post(`/clusters/${dc2.clusterId}/import`)
      .set(bearer(tok.operator))
      .send({ dryRun: false, vhosts: [vi] })
      .expect(409);
    expect(refused.headers['content-type']).toMatch(problem);
    expect(refused.text).not.toContain(state.admin.password);
    expect(await registryView()).toEqual(registryNow);
    await m2.request('DELETE', `/api/policies/${enc(vi)}/fed-orders-again`);
    await m2.request('DELETE', `/api/parameters/federation-upstream/${enc(vi)}/dup`);
    expect(readFileSync(t.logFile, 'utf8')).not.toContain(state.admin.password);
  });
});
