import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { type Cidr, parseCidrList } from '../../config/cidr';

/** A broker endpoint outside BROKER_ALLOWED_NETWORKS: nothing is sent to it. */
export class EndpointNotAllowedError extends Error {
  readonly code = 'ENETNOTALLOWED';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(
      address === host
        ? `${host} is outside BROKER_ALLOWED_NETWORKS`
        : `${host} resolves to ${address}, outside BROKER_ALLOWED_NETWORKS`,
    );
    this.name = 'EndpointNotAllowedError';
  }
}

/**
 * The networks broker endpoints may live in (BROKER_ALLOWED_NETWORKS); without a list, every
 * address is allowed. Checked on the addresses actually connected to, after DNS resolution,
 * so a name that later resolves elsewhere is caught too.
 */
export class AllowedNetworks {
  private readonly list?: BlockList;

  constructor(readonly cidrs?: Cidr[]) {
    if (!cidrs) return;
    this.list = new BlockList();
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
  }

  static fromEnv(value: string | undefined): AllowedNetworks {
    if (value === undefined || value.trim() === '') return new AllowedNetworks();
    const cidrs = parseCidrList(value);
    // The environment is validated at start-up; a bad list here is a programming error.
    if (!cidrs) throw new Error('BROKER_ALLOWED_NETWORKS is not a CIDR list');
    return new AllowedNetworks(cidrs);
  }

  get restricted(): boolean {
    return !!this.list;
  }

  /** Is this IP address (v4, v6 or v4-mapped v6) inside an allowed network? */
  allows(address: string): boolean {
    if (!this.list) return true;
    const version = isIP(address);
    if (version === 0) return false;
    return this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }

  /** Throws EndpointNotAllowedError unless every address `host` stands for is allowed. */
  async check(host: string, timeoutMs = 3000): Promise<void> {
    if (!this.list) return;
    for (const address of await resolveAll(host, timeoutMs)) {
      if (!this.allows(address)) throw new EndpointNotAllowedError(host, address);
    }
  }

  /**
   * A `lookup` for net/http/amqplib connections: resolves, then refuses any address outside
   * the list. IP literals skip `lookup` in node:net, so callers also check those up front
   * (`checkLiteral`).
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const bad = addresses.find((a) => !this.allows(a.address));
      if (bad) {
        callback(new EndpointNotAllowedError(hostname, bad.address), '', 0);
        return;
      }
      if (options.all)
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };

  /** Refuses an IP literal outside the list (names are checked by `lookup` on connect). */
  checkLiteral(host: string): void {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare) !== 0 && !this.allows(bare)) throw new EndpointNotAllowedError(host, bare);
  }
}

function resolveAll(host: string, timeoutMs: number): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return Promise.resolve([bare]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`resolving ${host} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    dnsLookup(host, { all: true }, (err, addresses) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(addresses.map((a) => a.address));
    });
  });
}
