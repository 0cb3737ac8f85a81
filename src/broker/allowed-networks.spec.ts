import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { AmqpSession } from './amqp-session';
import { attemptNode } from './management.transport';
import { validateEnvironment } from '../config/environment';
import { parseCidrList } from '../config/cidr';
import { AllowedNetworks } from '../common/net/allowed-networks';

const baseEnv = {
  DATABASE_URL: 'postgres://u@127.0.0.1/db',
  CROSSDOCK_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  CROSSDOCK_AUDIT_HMAC_KEY: 'k'.repeat(32),
};

describe('parseCidrList', () => {
  it.each([
    ['10.0.0.0/8', 1],
    ['10.0.0.0/8, 192.168.1.0/24 ,fd00::/8', 3],
    ['127.0.0.1/32', 1],
    ['::1/128', 1],
  ])('accepts %s', (text, n) => expect(parseCidrList(text)).toHaveLength(n));

  it.each(['', '10.0.0.0', '10.0.0.0/33', '::/129', 'example.com/8', '10.0.0.0/8,,x', '1.2.3/8'])(
    'refuses %j',
    (text) => expect(parseCidrList(text)).toBeNull(),
  );

  it('is validated with the environment, naming the variable and not the value', () => {
    expect(() => validateEnvironment({ ...baseEnv, BROKER_ALLOWED_NETWORKS: 'nope/99' })).toThrow(
      /BROKER_ALLOWED_NETWORKS: .*CIDR/,
    );
    expect(
      validateEnvironment({ ...baseEnv, BROKER_ALLOWED_NETWORKS: '10.0.0.0/8' })
        .BROKER_ALLOWED_NETWORKS,
    ).toBe('10.0.0.0/8');
  });
});

describe('AllowedNetworks', () => {
  const nets = AllowedNetworks.fromEnv('10.0.0.0/8, fd00::/8');

  it('allows everything without a list', () => {
    const open = AllowedNetworks.fromEnv(undefined);
    expect(open.restricted).toBe(false);
    expect(open.allows('127.0.0.1')).toBe(true);
  });

  it('checks v4, v6 and v4-mapped v6 addresses', () => {
    expect(nets.allows('10.1.2.3')).toBe(true);
    expect(nets.allows('11.0.0.1')).toBe(false);
    expect(nets.allows('fd12::1')).toBe(true);
    expect(nets.allows('::1')).toBe(false);
    expect(nets.allows('::ffff:10.0.0.1')).toBe(true);
    expect(nets.allows('::ffff:127.0.0.1')).toBe(false);
    expect(nets.allows('not-an-ip')).toBe(false);
  });

  it('resolves names before judging them', async () => {
    await expect(nets.check('10.0.0.1')).resolves.toBeUndefined();
    await expect(nets.check('localhost')).rejects.toThrow(
      /localhost resolves to .*outside BROKER_ALLOWED_NETWORKS/,
    );
    expect(() => nets.checkLiteral('[::1]')).toThrow(/outside/);
    expect(() => nets.checkLiteral('localhost')).not.toThrow(); // names: on connect
  });
});

describe('connections outside BROKER_ALLOWED_NETWORKS are never made', () => {
  const fenced = AllowedNetworks.fromEnv('10.0.0.0/8');
  let http: ReturnType<typeof createHttpServer>;
  let tcp: Server;
  let httpPort: number;
  let tcpPort: number;
  const seen = { http: 0, tcp: 0 };

  beforeAll(async () => {
    http = createHttpServer((_req, res) => {
      seen.http += 1;
      res.end('{}');
    });
    tcp = createTcpServer((s) => {
      seen.tcp += 1;
      s.destroy();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    httpPort = (http.address() as AddressInfo).port;
    tcpPort = (tcp.address() as AddressInfo).port;
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
    await new Promise((r) => tcp.close(r));
  });

  const attempt = (host: string, networks?: AllowedNetworks) =>
    attemptNode({
      node: { name: 'n', host, managementPort: httpPort },
      scheme: 'http',
      authorization: 'Basic c2VjcmV0',
      secrets: ['secret'],
      method: 'GET',
      path: '/api/overview',
      body: undefined,
      opts: {},
      timeoutMs: 2000,
      maxResponseBytes: 1024,
      networks,
    });

  it('management: by IP literal and by a name resolved on connect', async () => {
    expect((await attempt('127.0.0.1')).outcome.type).toBe('ok'); // the listener works
    const before = seen.http;
    for (const host of ['127.0.0.1', 'localhost']) {
      const { outcome } = await attempt(host, fenced);
      expect(outcome).toMatchObject({
        type: 'failed',
        kind: 'unreachable',
        detail: expect.stringMatching(/outside BROKER_ALLOWED_NETWORKS/),
      });
    }
    expect(seen.http).toBe(before);
  });

  it('AMQP: by IP literal and by a name resolved on connect', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const session = new AmqpSession({
        endpoints: [{ host, port: tcpPort }],
        uri: (ep) => `amqp://u:secret@${ep.host}:${ep.port}/%2F`,
        connectTimeoutMs: 2000,
        networks: fenced,
      });
      expect(await session.ensure()).toBe(false);
      expect(session.lastError).toMatch(/outside BROKER_ALLOWED_NETWORKS/);
      await session.close();
    }
    expect(seen.tcp).toBe(0);
  });
});
