import { isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8, fd00::/8` -> networks; null when any entry is malformed. */
export function parseCidrList(text: string): Cidr[] | null {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0 || entries.length > 256) return null;
  const out: Cidr[] = [];
  for (const entry of entries) {
    const m = /^([0-9A-Fa-f.:]{2,45})\/(\d{1,3})$/.exec(entry);
    const version = m ? isIP(m[1]) : 0;
    if (!m || version === 0) return null;
    const prefix = Number(m[2]);
    if (prefix > (version === 4 ? 32 : 128)) return null;
    out.push({ address: m[1], prefix, family: version === 4 ? 'ipv4' : 'ipv6' });
  }
  return out;
}
