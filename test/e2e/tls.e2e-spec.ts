import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, bootstrapToken } from '../helpers/api';
import { createTestApp, type TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
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

/**
 * TLS across real brokers and the WAN proxy: two TLS sites linked by federation and a shovel
 * with peer verification (messages arrive, lag is measured, links healthy, the brokers list the
 * link connections as TLS), a plaintext site in the same topology, a certificate expiring in
 * 5 days (warning and metric), and a wrong CA on one side (link down, certificate verification
 * named).
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
  /** A TLS site as crossdock sees it: its TLS listeners only, https, its CA and link files. */
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
    for (const c of [dc1, dc2, dc3, dc1, dc2]) await reconcile(c);
  }, 600000);

  afterAll(async () => {
    await t?.close().catch(() => undefined);
    if (db) await dropDatabase(db.name);
    await sites?.down().catch(() => undefined);
    if (pki) rmSync(pki, { recursive: true, force: true });
  }, 300000);

  it('links TLS sites with peer verification: messages cross, lag is measured, links healthy, TLS on the wire', async () => {
    for (const [kind, id] of [
      ['federation', fedId],
      ['shovels', shovelId],
      ['shovels', plainShovelId],
    ] as const)
      await eventually(async () => (await health(kind, id)).state === 'healthy', {
        timeoutMs: 90000,
        intervalMs: 500,
        description: `${kind} ${id} healthy`,
      });
    expect((await health('federation', fedId)).values.lagP50Ms).toEqual(expect.any(Number));
    expect((await health('shovels', shovelId)).values.lagP50Ms).toEqual(expect.any(Number));
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
            {
              count: 1,
              ackmode: 'ack_requeue_false',
              encoding: 'auto',
            },
          );
          return r.length > 0 ? r[0].payload : false;
        },
        { timeoutMs: 30000, intervalMs: 250, description: `a message in ${q}` },
      );
    expect(await got(m[1], 'orders.dc2')).toBe('fed-1');
    expect(await got(m[1], 'inbox')).toBe('shovel-1');
    expect(await got(m[2], 'from-tls')).toBe('plain-1');
    // The brokers' connection lists: link connections into the TLS sites are TLS, with the
    // linking node's client certificate; the one into the plaintext site is not.
    type Conn = {
      user: string;
      ssl: boolean;
      peer_cert_subject?: string;
      client_properties?: { connection_name?: string };
    };
    const links = async (x: TestManagement) =>
      (await x.request<Conn[]>('GET', '/api/connections')).filter((c) =>
        c.user.startsWith('crossdock-link'),
      );
    const into1 = await links(m[0]); // federation link from dc2
    const into2 = await links(m[1]); // shovel from dc1
    const into3 = await links(m[2]); // shovel from dc1, plaintext
    expect(into1.length).toBeGreaterThan(0);
    expect(into2.length).toBeGreaterThan(0);
    expect(into3.length).toBeGreaterThan(0);
    expect(into1.every((c) => c.ssl)).toBe(true);
    expect(into2.every((c) => c.ssl)).toBe(true);
    expect(into1.map((c) => c.peer_cert_subject)).toContain('CN=dc2.crossdock.test');
    expect(into3.every((c) => !c.ssl)).toBe(true);
    // The stored URIs say amqps with verification (read back redacted: no password).
    const params = await m[1].request<{ value: { uri: string[] | string } }[]>(
      'GET',
      `/api/parameters/federation-upstream/${enc(vhost)}`,
    );
    expect(JSON.stringify(params[0].value.uri)).toMatch(
      /^\["?amqps:\/\/.*verify=verify_peer&server_name_indication=dc1\.crossdock\.test/,
    );
  }, 180000);

  it('never sends credentials in clear to a TLS cluster', async () => {
    const r = await t.http
      .patch(`/clusters/${dc1.clusterId}`)
      .set(admin())
      .send({ managementScheme: 'http' })
      .expect(400);
    expect(r.body.errors[0]).toMatchObject({ field: 'managementScheme' });
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  it('reports a certificate expiring in 5 days: observation, metric and a link health warning', async () => {
    await sites.run('certs', '--site', 'dc2', '--cert-days', '5');
    const obs = (
      await t.http.get(`/clusters/${dc2.clusterId}/observation`).set(admin()).expect(200)
    ).body as {
      tlsCertificates: { endpoint: string; daysToExpiry: number; verified: boolean }[];
    };
    const soon = obs.tlsCertificates.filter((c) => c.daysToExpiry <= 5);
    expect(soon.map((c) => c.endpoint)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^management /),
        expect.stringMatching(/^link /),
      ]),
    );
    expect(soon.every((c) => c.verified)).toBe(true);
    const metrics = (await t.http.get('/metrics').set(admin()).expect(200)).text;
    expect(metrics).toMatch(
      new RegExp(
        `crossdock_tls_certificate_expiry_days\\{cluster="${site(state, 'dc2').clusterName}",endpoint="link [^"]+"\\} [45]\\b`,
      ),
    );
    await eventually(
      async () => {
        const h = await health('federation', fedId);
        return (
          h.state === 'degraded' &&
          h.reasons.some(
            (r) =>
              r.code === 'certificate-expiring' && /critical: .*dc2|5 day|4 day/.test(r.detail),
          )
        );
      },
      { timeoutMs: 30000, intervalMs: 500, description: 'certificate warning on the link' },
    );
  }, 120000);

  it('a wrong CA on one side: the link is down, naming certificate verification', async () => {
    await t.http
      .patch(`/clusters/${dc2.clusterId}`)
      .set(admin())
      .send({ tls: tlsSettings(site(state, 'dc2'), join(pki, 'wrong-ca.pem')) })
      .expect(200);
    await reconcile(dc2);
    const h = await eventually(
      async () => {
        const v = await health('federation', fedId);
        return v.state === 'down' &&
          v.reasons.some((r) => r.code === 'certificate-verification-failed')
          ? v
          : false;
      },
      {
        timeoutMs: 60000,
        intervalMs: 500,
        description: 'federation link down on certificate verification',
      },
    );
    expect(h.reasons.find((r) => r.code === 'certificate-verification-failed')?.detail).toMatch(
      /unknown.?ca/i,
    );
    expect(h.state).not.toBe('healthy');
  }, 120000);
});
