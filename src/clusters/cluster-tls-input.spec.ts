import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daysUntil, parseCertificates, validateTlsInput } from './cluster-tls-input';

describe('validateTlsInput', () => {
  let dir: string;
  let ca: string;
  let leaf: string;
  let leafKey: string;
  let otherKey: string;
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tls-input-'));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.pem'),
      '-days',
      '10',
      '-subj',
      '/CN=test ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    );
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      join(dir, 'leaf.key'),
      '-out',
      join(dir, 'leaf.pem'),
      '-days',
      '5',
      '-subj',
      '/CN=client',
      '-addext',
      'basicConstraints=CA:FALSE',
    );
    openssl(
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-out',
      join(dir, 'other.key'),
    );
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    leaf = readFileSync(join(dir, 'leaf.pem'), 'utf8');
    leafKey = readFileSync(join(dir, 'leaf.key'), 'utf8');
    otherKey = readFileSync(join(dir, 'other.key'), 'utf8');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a CA bundle of two CAs (a rotation) and a matching client certificate and key', () => {
    const r = validateTlsInput({
      caBundle: `${ca}\n${ca}`,
      serverName: 'dc1.example.net',
      clientCertificate: leaf,
      clientKey: leafKey,
      linkFiles: {
        caCertFile: '/etc/tls/ca.pem',
        certFile: '/etc/tls/c.pem',
        keyFile: '/etc/tls/c.key',
      },
    });
    expect(r.errors).toEqual([]);
    expect(r.clientKey).toBe(leafKey);
    expect(r.tls).toEqual({
      caBundle: `${ca}\n${ca}`,
      serverName: 'dc1.example.net',
      clientCertificate: leaf,
      linkFiles: {
        caCertFile: '/etc/tls/ca.pem',
        certFile: '/etc/tls/c.pem',
        keyFile: '/etc/tls/c.key',
      },
    });
    expect(parseCertificates(`${ca}\n${ca}`)).toHaveLength(2);
  });

  it('names each field that is wrong', () => {
    const fields = (dto: Parameters<typeof validateTlsInput>[0]) =>
      validateTlsInput(dto).errors.map((e) => `${e.field}: ${e.message}`);
    expect(fields({ caBundle: 'not a pem' })).toEqual([
      'tls.caBundle: caBundle holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
    ]);
    expect(fields({ caBundle: leaf })[0]).toMatch(/tls.caBundle: certificate 1 .* is not a CA/);
    expect(fields({ caBundle: ca, clientCertificate: leaf })).toEqual([
      'tls.clientKey: clientCertificate and clientKey go together',
    ]);
    expect(fields({ caBundle: ca, clientCertificate: leaf, clientKey: otherKey })).toEqual([
      'tls.clientKey: clientKey does not belong to clientCertificate',
    ]);
    expect(fields({ caBundle: ca, clientCertificate: leaf, clientKey: 'x' })).toEqual([
      'tls.clientKey: clientKey is not a PEM private key',
    ]);
    expect(fields({ caBundle: ca, linkFiles: { caCertFile: '/a', certFile: '/b' } })).toEqual([
      'tls.linkFiles: certFile and keyFile go together',
    ]);
  });

  it('counts whole days to expiry', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(daysUntil(new Date('2026-01-06T12:00:00Z'), now)).toBe(5);
    expect(daysUntil(new Date('2025-12-31T12:00:00Z'), now)).toBe(-1);
  });
});
