import { createPrivateKey, X509Certificate } from 'node:crypto';
import { DomainException } from '../common/errors/domain.exception';
import type { ClusterTls } from './cluster-tls';
import type { ClusterTlsDto } from './cluster-tls.dto';

export interface TlsFieldError {
  field: string;
  message: string;
}

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle; throws with a message naming what is wrong. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(pemBlock) ?? [];
  if (blocks.length === 0)
    throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  if (blocks.length > 32) throw new Error('holds more than 32 certificates');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new Error(`certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
}

/**
 * Checks TLS settings as far as crossdock can: the bundle parses and holds CA certificates, the
 * client certificate parses and matches its key, link files come as a certificate/key pair.
 * What the broker nodes hold at the link file paths cannot be checked from here.
 */
export function validateTlsInput(
  dto: ClusterTlsDto,
  prefix = 'tls',
): { tls: ClusterTls; clientKey: string | null; errors: TlsFieldError[] } {
  const errors: TlsFieldError[] = [];
  try {
    const certs = parseCertificates(dto.caBundle);
    certs.forEach((c, i) => {
      if (!c.ca)
        errors.push({
          field: `${prefix}.caBundle`,
          message: `certificate ${i + 1} (${c.subject.replace(/\n/g, ', ')}) is not a CA certificate`,
        });
    });
  } catch (err) {
    errors.push({ field: `${prefix}.caBundle`, message: `caBundle ${(err as Error).message}` });
  }
  const cert = dto.clientCertificate ?? null;
  const key = dto.clientKey ?? null;
  if ((cert === null) !== (key === null)) {
    errors.push({
      field: cert === null ? `${prefix}.clientCertificate` : `${prefix}.clientKey`,
      message: 'clientCertificate and clientKey go together',
    });
  } else if (cert !== null && key !== null) {
    try {
      const [c] = parseCertificates(cert);
      let k;
      try {
        k = createPrivateKey(key);
      } catch {
        throw new Error('clientKey is not a PEM private key');
      }
      if (!c.checkPrivateKey(k)) throw new Error('clientKey does not belong to clientCertificate');
    } catch (err) {
      const msg = (err as Error).message;
      errors.push({
        field: msg.startsWith('clientKey') ? `${prefix}.clientKey` : `${prefix}.clientCertificate`,
        message: msg.startsWith('clientKey') ? msg : `clientCertificate ${msg}`,
      });
    }
  }
  const lf = dto.linkFiles;
  if (lf && (lf.certFile === undefined) !== (lf.keyFile === undefined)) {
    errors.push({ field: `${prefix}.linkFiles`, message: 'certFile and keyFile go together' });
  }
  return {
    tls: {
      caBundle: dto.caBundle,
      serverName: dto.serverName ?? null,
      clientCertificate: cert,
      linkFiles: lf
        ? { caCertFile: lf.caCertFile, certFile: lf.certFile ?? null, keyFile: lf.keyFile ?? null }
        : null,
    },
    clientKey: key,
    errors,
  };
}

/**
 * TLS input checked as far as crossdock can; a cluster configured for TLS must be managed over
 * https, so credentials never go to it in clear.
 */
export function checkClusterTls(dto: ClusterTlsDto | null | undefined, scheme: string) {
  if (!dto) return null;
  const checked = validateTlsInput(dto);
  if (scheme !== 'https') {
    checked.errors.push({
      field: 'managementScheme',
      message:
        'a cluster configured for TLS is managed over https: set managementScheme to https (crossdock never sends credentials in clear to it)',
    });
  }
  if (checked.errors.length)
    throw DomainException.validation(checked.errors, 'Invalid TLS settings');
  return checked;
}

/** Days until `notAfter`, rounded down (negative once expired). */
export function daysUntil(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
}
