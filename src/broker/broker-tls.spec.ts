import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlaintextRefusedError } from './broker-tls';
import { ManagementClient } from './management-client';

/** A CA, a server certificate it signs (for broker.test) and a second CA that signs nothing. */
function makePki(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    run(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.pem`),
      '-days',
      '10',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    );
  }
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:broker.test\n');
  run(
    'req',
    ...ec,
    '-keyout',
    join(dir, 'srv.key'),
    '-out',
    join(dir, 'srv.csr'),
    '-subj',
    '/CN=broker.test',
  );
  run(
    'x509',
    '-req',
    '-in',
    join(dir, 'srv.csr'),
    '-CA',
    join(dir, 'ca.pem'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    join(dir, 'srv.pem'),
    '-days',
    '5',
    '-extfile',
    join(dir, 'ext'),
  );
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    ca: read('ca.pem'),
    otherCa: read('other-ca.pem'),
    cert: read('srv.pem'),
    key: read('srv.key'),
  };
}

describe('management client over https with a cluster CA bundle', () => {
  let dir: string;
  let server: Server;
  let port: number;
  let pki: ReturnType<typeof makePki>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'broker-tls-'));
    pki = makePki(dir);
    server = createServer({ cert: pki.cert, key: pki.key }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"cluster_name":"dc1"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (tls: { ca: string; serverName?: string }, scheme: 'http' | 'https' = 'https') =>
    new ManagementClient({
      nodes: [{ name: 'n1', host: '127.0.0.1', managementPort: port }],
      scheme,
      username: 'u',
      password: 'secret',
      timeoutMs: 5000,
      tls,
    });

  it('verifies the server against the bundle and the server name', async () => {
    const bundle = `${pki.otherCa}${pki.ca}`;
    await expect(
      client({ ca: bundle, serverName: 'broker.test' }).get('/api/overview'),
    ).resolves.toEqual({
      cluster_name: 'dc1',
    });
  });

  it('fails on a CA that did not sign the certificate and on a wrong server name', async () => {
    await expect(
      client({ ca: pki.otherCa, serverName: 'broker.test' }).get('/api/overview'),
    ).rejects.toThrow(/certificate/i);
    await expect(
      client({ ca: pki.ca, serverName: 'other.test' }).get('/api/overview'),
    ).rejects.toThrow(/altnames|does not match|certificate/i);
  });

  it('refuses to run over http when given TLS material', () => {
    expect(() => client({ ca: pki.ca }, 'http')).toThrow(PlaintextRefusedError);
  });
});
