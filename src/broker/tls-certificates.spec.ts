import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCertificate, tlsEndpoints } from './tls-certificates';

describe('readCertificate', () => {
  let dir: string;
  let server: Server;
  let port: number;
  let ca: string;
  let otherCa: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tls-certs-'));
    const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    for (const n of ['ca', 'other'])
      run(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${n}.key`,
        '-out',
        `${n}.pem`,
        '-days',
        '30',
        '-subj',
        `/CN=${n}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      );
    writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:dc1.test\n');
    run('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=dc1.test');
    run(
      'x509',
      '-req',
      '-in',
      'srv.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'srv.pem',
      '-days',
      '5',
      '-extfile',
      'ext',
    );
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    otherCa = readFileSync(join(dir, 'other.pem'), 'utf8');
    server = createServer(
      {
        cert: readFileSync(join(dir, 'srv.pem')),
        key: readFileSync(join(dir, 'srv.key')),
      },
      (s) => s.end(),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads days to expiry of a 5-day certificate and verifies it against the bundle', async () => {
    const r = await readCertificate(
      'amqps x',
      '127.0.0.1',
      port,
      { ca, serverName: 'dc1.test' },
      5000,
    );
    expect(r).toMatchObject({
      endpoint: 'amqps x',
      verified: true,
      error: null,
      subject: 'CN=dc1.test',
    });
    expect(r.daysToExpiry).toBeGreaterThanOrEqual(4);
    expect(r.daysToExpiry).toBeLessThanOrEqual(5);
  });

  it('still reads the expiry of a certificate the bundle does not trust, and says why', async () => {
    const r = await readCertificate(
      'amqps x',
      '127.0.0.1',
      port,
      { ca: otherCa, serverName: 'dc1.test' },
      5000,
    );
    expect(r.verified).toBe(false);
    expect(r.error).toMatch(/^certificate verification failed: /);
    expect(r.daysToExpiry).toBeGreaterThanOrEqual(4);
  });

  it('reports an endpoint without TLS as a failed handshake', async () => {
    const r = await readCertificate('amqps y', '127.0.0.1', 1, { ca }, 2000);
    expect(r).toMatchObject({ verified: false, daysToExpiry: null });
    expect(r.error).toMatch(/TLS handshake failed/);
  });

  it('lists each endpoint once', () => {
    expect(
      tlsEndpoints(
        [{ host: 'h', managementPort: 15671, amqpPort: 5671 }],
        [
          { host: 'h', port: 5671 },
          { host: 'lb', port: 5671 },
        ],
        { host: 'lb', port: 5671 },
      ).map((e) => e.endpoint),
    ).toEqual(['management h:15671', 'amqps h:5671', 'link lb:5671']);
  });
});
