import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { consistently, eventually } from '../helpers/eventually';
import { tlsSites, type TlsLocalSite } from '../helpers/extra-sites';
import { createMigratedDatabase, dropDatabase } from '../helpers/postgres';
import { registerLocalSite, type RegisteredSite } from '../helpers/registry';
import {
  createSharedVhost,
  site,
  type LocalSite,
  type SitesState,
  type TestManagement,
} from '../helpers/sites';

const enc = encodeURIComponent;

interface Health {
  state: string;
  reasons: { code: string; state: string; detail: string }[];
  values: Record<string, unknown>;
}

/** A broker connection, as GET /api/connections lists it (the fields read here). */
interface Connection {
  user: string;
  vhost: string;
  ssl: boolean;
  port: number;
  type?: string;
  peer_cert_subject?: string;
}

/**
 * TLS across real brokers and the WAN proxy (issue 19's acceptance): two TLS sites (dc1, dc2)
 * and a plaintext one (dc3) in one topology. Federation dc1 -> dc2, a shovel dc1 -> dc2 and their
 * probe paths run over the TLS site link with peer verification (messages cross, lag measured,
 * links healthy, the brokers list the link connections as TLS); a shovel dc1 -> dc3 stays
 * plaintext, and no crossdock connection reaches dc1/dc2 in clear; a certificate expiring in
 * 5 days is reported (observation, metric, link health); a wrong CA on the running side keeps
 * the link down with certificate verification named.
 */
describe('TLS sites, links and certificates', () => {
  let sites: Awaited<ReturnType<typeof tlsSites>>;
  let state: SitesState;
  let t: TestApp;
  let db: { name: string; url: string };
  let dc1: RegisteredSite;
  let dc2: RegisteredSite;
  let dc3: RegisteredSite;
  let m: TestManagement[];
  let fedId: string;
  let shovelId: string;
  let plainShovelId: string;
  let pki: string;
  const vhost = `tls-${randomBytes(3).toString('hex')}`;
  const admin = () => bearer(bootstrapToken());
  const health = async (kind: 'federation' | 'shovels', id: string): Promise<Health> =>
    (await t.http.get(`/links/${kind}/${id}/health`).set(admin()).expect(200)).body as Health;
  /** Waits for a link's health to satisfy `ok`; on timeout the error shows the last health. */
  const healthUntil = (
    kind: 'federation' | 'shovels',
    id: string,
    ok: (h: Health) => boolean,
    what: string,
    timeoutMs: number,
  ) =>
    eventually(
      async () => {
        const h = await health(kind, id);
        if (!ok(h)) throw new Error(`last health: ${JSON.stringify(h)}`);
        return h;
      },
      { timeoutMs, intervalMs: 500, description: `${kind} link ${what}` },
    );
  const tlsOf = (s: LocalSite) => s as LocalSite & TlsLocalSite;
  const tlsSettings = (s: LocalSite, caCertFile?: string) => {
    const x = tlsOf(s);
    return {
      caBundle: readFileSync(x.tls.caFile, 'utf8'),
      serverName: x.tls.serverName,
      linkFiles: {
        caCertFile: caCertFile ?? x.tls.caFile,
        certFile: x.tls.certFile,
        keyFile: x.tls.keyFile,
      },
    };
  };
  /** A TLS site as crossdock sees it: its TLS listeners only (AMQPS, https, the TLS site link). */
  const registerTls = (s: LocalSite) => {
    const x = tlsOf(s);
    const tlsSite: LocalSite = {
      ...s,
      link: x.tlsLink,
      nodes: s.nodes.map((n, i) => ({
        ...n,
        amqpPort: x.nodes[i].amqpsPort,
        managementPort: x.nodes[i].managementTlsPort,
      })),
    };
    return registerLocalSite(t.http, state, tlsSite, [vhost], {
      managementScheme: 'https',
      tls: tlsSettings(s),
    });
  };
  const reconcile = async (c: RegisteredSite) => {
    const run = (
      await t.http.post('/reconcile').set(admin()).send({ clusterId: c.clusterId }).expect(200)
    ).body.runs[0] as { status: string; error?: string };
    if (run.status !== 'succeeded') throw new Error(`reconcile: ${run.status} ${run.error}`);
  };
  const connections = (x: TestManagement) => x.request<Connection[]>('GET', '/api/connections');
  /** Network connections crossdock opened or had opened (its link user, its admin sessions). */
  const crossdockConnections = async (x: TestManagement) =>
    (await connections(x)).filter(
      (c) =>
        c.type !== 'direct' &&
        (c.user.startsWith('crossdock-link') || c.user === state.admin.username),
    );
  /**
   * The broker's status of the link's federation links. RabbitMQ 3.10 answers this list with a
   * 500 now and then while a link is down (its federation management plugin fails to format a
   * link without a local connection while a fresh connection's channels lack their details):
   * read again then.
   */
  const federationStatus = () =>
    eventually(
      async () =>
        (
          await m[1].request<{ upstream: string; status: string; error?: string | null }[]>(
            'GET',
            `/api/federation-links/${enc(vhost)}`,
          )
        ).filter((l) => l.upstream.startsWith('crossdock.up.')),
      { timeoutMs: 5000, intervalMs: 200, description: 'the federation link status' },
    );

  beforeAll(async () => {
    sites = await tlsSites(3);
    state = sites.state;
    pki = mkdtempSync(join(tmpdir(), 'tls-e2e-'));
    // A CA that signed nothing here: the "wrong CA" a misconfigured node would trust.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(pki, 'wrong.key'),
        '-out',
        join(pki, 'wrong-ca.pem'),
        '-days',
        '30',
        '-subj',
        '/CN=wrong ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { stdio: 'pipe' },
    );
    m = await createSharedVhost(state, ['dc1', 'dc2', 'dc3'], vhost);
    db = await createMigratedDatabase('crossdock_tls');
    t = await createTestApp({
      DATABASE_URL: db.url,
      PROBES_ENABLED: 'true',
      PROBE_INTERVAL_MS: '1000',
      PROBE_BROKER_POLL_MS: '500',
      PROBE_WINDOW_MS: '5000',
      TLS_CERT_CHECK_INTERVAL_MS: '2000',
    });
    dc1 = await registerTls(site(state, 'dc1'));
    dc2 = await registerTls(site(state, 'dc2'));
    dc3 = await registerLocalSite(t.http, state, site(state, 'dc3'), [vhost]); // plaintext
    for (const x of m.slice(0, 2))
      await x.request('PUT', `/api/exchanges/${enc(vhost)}/orders`, {
        type: 'fanout',
        durable: true,
      });
    await m[1].request('PUT', `/api/queues/${enc(vhost)}/orders.dc2`, { durable: true });
    await m[1].request('POST', `/api/bindings/${enc(vhost)}/e/orders/q/orders.dc2`, {
      routing_key: '',
    });
    await m[0].request('PUT', `/api/queues/${enc(vhost)}/outbox`, { durable: true });
    await m[0].request('PUT', `/api/queues/${enc(vhost)}/to-plain`, { durable: true });
    await m[1].request('PUT', `/api/queues/${enc(vhost)}/inbox`, { durable: true });
    await m[2].request('PUT', `/api/queues/${enc(vhost)}/from-tls`, { durable: true });
    const post = async (path: string, body: object) =>
      (await t.http.post(path).set(admin()).send(body).expect(201)).body.id as string;
    const settings = { reconnectDelaySeconds: 1 };
    fedId = await post('/links/federation', {
      name: 'orders',
      kind: 'exchange',
      targets: ['orders'],
      settings,
      downstream: { clusterId: dc2.clusterId, vhost },
      upstream: { clusterId: dc1.clusterId, vhost },
    });
    shovelId = await post('/links/shovels', {
      name: 'outbox',
      settings,
      source: { clusterId: dc1.clusterId, vhost, queue: 'outbox' },
      destination: { clusterId: dc2.clusterId, vhost, queue: 'inbox' },
    });
    plainShovelId = await post('/links/shovels', {
      name: 'to-plain',
      settings,
      source: { clusterId: dc1.clusterId, vhost, queue: 'to-plain' },
      destination: { clusterId: dc3.clusterId, vhost, queue: 'from-tls' },
    });
    // Link targets first (their link user), then the clusters that run the links.
    for (const c of [dc2, dc3, dc1, dc2]) await reconcile(c);
  }, 600000);

  afterAll(async () => {
    await t?.close().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    for (const x of m ?? []) await x.deleteVhost(vhost).catch(() => undefined);
    // A running instance given from outside gets its certificate back; an own one just goes.
    if (process.env.CROSSDOCK_TEST_TLS_SITES_STATE)
      await sites?.run('certs', '--site', 'dc2', '--cert-days', '365').catch(() => undefined);
    await sites?.down().catch(() => undefined);
    if (pki) rmSync(pki, { recursive: true, force: true });
  }, 300000);

  it('links TLS sites with peer verification: messages cross, lag is measured, links healthy, TLS on the wire', async () => {
    for (const [kind, id] of [
      ['federation', fedId],
      ['shovels', shovelId],
      ['shovels', plainShovelId],
    ] as const)
      await healthUntil(
        kind,
        id,
        (h) => h.state === 'healthy' && typeof h.values.lagP50Ms === 'number',
        `${id} healthy with lag measured`,
        90000,
      );
    const publish = (x: TestManagement, exchange: string, key: string, payload: string) =>
      x.request('POST', `/api/exchanges/${enc(vhost)}/${exchange}/publish`, {
        properties: {},
        routing_key: key,
        payload,
        payload_encoding: 'string',
      });
    await publish(m[0], 'orders', '', 'fed-1');
    await publish(m[0], 'amq.default', 'outbox', 'shovel-1');
    await publish(m[0], 'amq.default', 'to-plain', 'plain-1');
    const got = (x: TestManagement, q: string) =>
      eventually(
        async () => {
          const r = await x.request<{ payload: string }[]>(
            'POST',
            `/api/queues/${enc(vhost)}/${q}/get`,
            { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' },
          );
          return r.length > 0 ? r[0].payload : false;
        },
        { timeoutMs: 30000, intervalMs: 250, description: `a message in ${q}` },
      );
    expect(await got(m[1], 'orders.dc2')).toBe('fed-1');
    expect(await got(m[1], 'inbox')).toBe('shovel-1');
    expect(await got(m[2], 'from-tls')).toBe('plain-1');

    // The brokers' connection lists: the link connections into the TLS sites are TLS and present
    // the running node's client certificate; the one into the plaintext site is not TLS.
    // The connection list follows the stats emission (up to collect_statistics_interval).
    const linksInto = (x: TestManagement, v: string) =>
      eventually(
        async () => {
          const list = (await connections(x)).filter(
            (c) => c.user.startsWith('crossdock-link') && c.vhost === v,
          );
          return list.length > 0 ? list : false;
        },
        { timeoutMs: 15000, intervalMs: 250, description: `link connections in ${v}` },
      );
    const into1 = await linksInto(m[0], vhost); // the federation link, run by dc2
    const into2 = await linksInto(m[1], vhost); // the shovel, run by dc1
    const into3 = await linksInto(m[2], vhost); // the plaintext shovel, run by dc1
    expect(into1.every((c) => c.ssl)).toBe(true);
    expect(into2.every((c) => c.ssl)).toBe(true);
    expect(into1.map((c) => c.peer_cert_subject)).toContain('CN=dc2.crossdock.test');
    expect(into2.map((c) => c.peer_cert_subject)).toContain('CN=dc1.crossdock.test');
    expect(into3.every((c) => !c.ssl)).toBe(true);
    // The probe paths too: crossdock's probe vhost has TLS link connections into dc1 and dc2.
    for (const x of m.slice(0, 2))
      expect((await linksInto(x, 'crossdock.probe')).every((c) => c.ssl)).toBe(true);

    // The URIs on the brokers that run the links, their passwords masked before any assertion
    // (a failure message must not print them).
    const masked = (uris: string[] | undefined) =>
      uris?.map((u) => u.replace(/^(amqps?:\/\/[^:@/]*):[^@/]*@/, '$1:***@'));
    const upstreams = await m[1].request<{ value: { uri: string[] } }[]>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}`,
    );
    const tlsUri =
      /^amqps:\/\/crossdock-link:\*\*\*@127\.0\.0\.1:\d+\/[^?]+\?.*cacertfile=\/[^&]+.*&verify=verify_peer&server_name_indication=/;
    const upstreamUris = masked(upstreams[0].value.uri);
    expect(upstreamUris).toEqual([expect.stringMatching(tlsUri)]);
    expect(upstreamUris?.[0]).toContain('server_name_indication=dc1.crossdock.test');
    const shovels = await m[0].request<{ name: string; value: { 'dest-uri': string[] } }[]>(
      'GET',
      `/api/parameters/shovel/${enc(vhost)}`,
    );
    const destOf = (name: string) =>
      masked(shovels.find((s) => s.name === name)?.value['dest-uri']);
    expect(destOf('crossdock.sh.outbox')).toEqual([expect.stringMatching(tlsUri)]);
    expect(destOf('crossdock.sh.outbox')?.[0]).toContain(
      'server_name_indication=dc2.crossdock.test',
    );
    expect(destOf('crossdock.sh.to-plain')).toEqual([expect.stringMatching(/^amqp:\/\//)]);
  }, 180000);

  it('never sends credentials in clear to a TLS cluster', async () => {
    // Every network connection crossdock made or had made into dc1 and dc2 (its probe sessions
    // with the admin user, the links with the link user) is TLS, on the TLS listeners only.
    const plainPorts = (s: LocalSite) => new Set(s.nodes.map((n) => n.amqpPort));
    for (const [i, name] of [
      [0, 'dc1'],
      [1, 'dc2'],
    ] as const) {
      const seen = await crossdockConnections(m[i]);
      expect(seen.filter((c) => !c.ssl)).toEqual([]);
      expect(seen.filter((c) => plainPorts(site(state, name)).has(c.port))).toEqual([]);
    }
    // crossdock's own AMQP sessions (probes publish on dc1 with the admin user) are TLS.
    const sessions = await eventually(
      async () => {
        const list = (await crossdockConnections(m[0])).filter(
          (c) => c.user === state.admin.username,
        );
        return list.length > 0 ? list : false;
      },
      { timeoutMs: 15000, intervalMs: 250, description: 'probe sessions on dc1' },
    );
    expect(sessions.every((c) => c.ssl)).toBe(true);
    // The plaintext site gets plaintext connections (links are as protected as their remote end).
    expect((await crossdockConnections(m[2])).some((c) => !c.ssl)).toBe(true);
    // The management API of a TLS cluster is https only: a switch to http is refused.
    const r = await t.http
      .patch(`/clusters/${dc1.clusterId}`)
      .set(admin())
      .send({ managementScheme: 'http' })
      .expect(400);
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(r.body)).toMatch(/managementScheme/);
    const cluster = (await t.http.get(`/clusters/${dc1.clusterId}`).set(admin()).expect(200))
      .body as { managementScheme: string };
    expect(cluster.managementScheme).toBe('https');
    // Registered with its https ports only, the cluster is read (verified with its CA bundle).
    const obs = (
      await t.http.post(`/clusters/${dc1.clusterId}/observation`).set(admin()).expect(200)
    ).body as { reachable: boolean };
    expect(obs.reachable).toBe(true);
  });

  it('reports a certificate expiring in 5 days: observation, metric and a link health warning', async () => {
    await sites.run('certs', '--site', 'dc2', '--cert-days', '5');
    // POST observes now (GET returns the last stored observation).
    const obs = (
      await t.http.post(`/clusters/${dc2.clusterId}/observation`).set(admin()).expect(200)
    ).body as {
      reachable: boolean;
      tlsCertificates: { endpoint: string; daysToExpiry: number; verified: boolean }[];
    };
    const soon = obs.tlsCertificates.filter((c) => c.daysToExpiry <= 5);
    expect(soon.map((c) => c.endpoint)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^management /),
        expect.stringMatching(/^amqps /),
        expect.stringMatching(/^link /),
      ]),
    );
    expect(soon.every((c) => c.verified)).toBe(true);
    const stored = (
      await t.http.get(`/clusters/${dc2.clusterId}/observation`).set(admin()).expect(200)
    ).body as typeof obs;
    expect(stored.tlsCertificates.some((c) => c.daysToExpiry <= 5)).toBe(true);
    const metrics = (await t.http.get('/metrics').set(admin()).expect(200)).text;
    expect(metrics).toMatch(
      new RegExp(
        `crossdock_tls_certificate_expiry_days\\{cluster="${site(state, 'dc2').clusterName}",endpoint="link [^"]+"\\} [45]\\b`,
      ),
    );
    // Both links into or out of dc2 warn (default thresholds: 21 days warning, 7 critical).
    for (const [kind, id] of [
      ['federation', fedId],
      ['shovels', shovelId],
    ] as const)
      await healthUntil(
        kind,
        id,
        (h) =>
          h.state === 'degraded' &&
          h.reasons.some(
            (r) =>
              r.code === 'certificate-expiring' &&
              /^critical: .*expires in [45] day/.test(r.detail),
          ),
        'certificate warning',
        30000,
      );
  }, 120000);

  it('a wrong CA on the running side: the link is down, naming certificate verification, never running', async () => {
    await t.http
      .patch(`/clusters/${dc2.clusterId}`)
      .set(admin())
      .send({ tls: tlsSettings(site(state, 'dc2'), join(pki, 'wrong-ca.pem')) })
      .expect(200);
    await reconcile(dc2);
    const h = await healthUntil(
      'federation',
      fedId,
      (v) =>
        v.state === 'down' && v.reasons.some((r) => r.code === 'certificate-verification-failed'),
      'down on certificate verification',
      60000,
    );
    expect(h.reasons.find((r) => r.code === 'certificate-verification-failed')?.detail).toMatch(
      /unknown.?ca/i,
    );
    // The broker agrees, and the link does not come up on a retry.
    await consistently(
      async () => {
        const links = await federationStatus();
        return links.length > 0 && links.every((l) => l.status !== 'running');
      },
      5000,
      { intervalMs: 500, description: 'the federation link never runs' },
    );
    expect((await federationStatus())[0].error).toMatch(/unknown_ca/);
    expect((await health('federation', fedId)).state).toBe('down');
  }, 120000);
});
