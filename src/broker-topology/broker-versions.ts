/**
 * Keys that only some RabbitMQ versions know, and the one check every layer shares: the API
 * (write time, against the version a cluster last reported), the compiler (each pass, against
 * the version just observed) and link status. Pure: versions are passed in.
 */

export type PolicyApplyTo = 'queues' | 'exchanges' | 'classic_queues' | 'quorum_queues' | 'streams';
export const policyApplyTos: readonly PolicyApplyTo[] = [
  'queues',
  'exchanges',
  'classic_queues',
  'quorum_queues',
  'streams',
];
/** The per-queue-type values: each is a subset of `queues`. */
export const queueTypeApplyTos: readonly PolicyApplyTo[] = [
  'classic_queues',
  'quorum_queues',
  'streams',
];

export interface VersionRequirement {
  /** The broker key as the broker sees it, e.g. `apply-to: quorum_queues` or `queue-type`. */
  key: string;
  /** Lowest RabbitMQ version that knows it. */
  minimum: string;
}

export type Version = [number, number, number];

/** `3.10.8`, `3.13.1-rc.1`, `4.0` -> [3, 10, 8] ...; anything else -> null. */
export function parseVersion(text: string | null | undefined): Version | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[-+.].*)?$/.exec(text.trim());
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Per-queue-type `apply-to` values came with RabbitMQ 3.12. */
export function policyRequirements(applyTo: PolicyApplyTo): VersionRequirement[] {
  return queueTypeApplyTos.includes(applyTo)
    ? [{ key: `apply-to: ${applyTo}`, minimum: '3.12.0' }]
    : [];
}

/** The upstream key `queue-type` does not exist before 3.13.1 (sending it to 3.10 is an error). */
export function federationRequirements(settings: { queueType?: string }): VersionRequirement[] {
  return settings.queueType !== undefined ? [{ key: 'queue-type', minimum: '3.13.1' }] : [];
}

export interface VersionVerdict {
  /** Requirements the version is known to miss. */
  tooOld: VersionRequirement[];
  /** Requirements that cannot be judged: the version is not known (never observed, unparsable). */
  unknown: VersionRequirement[];
}

export function checkVersion(
  version: string | null | undefined,
  reqs: readonly VersionRequirement[],
): VersionVerdict {
  const v = parseVersion(version);
  if (!v) return { tooOld: [], unknown: [...reqs] };
  const tooOld = reqs.filter((r) => compareVersions(v, parseVersion(r.minimum) as Version) < 0);
  return { tooOld, unknown: [] };
}

/** The reason shown everywhere a requirement is not met (422 errors, findings, link status). */
export function unmetText(
  r: VersionRequirement,
  cluster: string,
  version: string | null | undefined,
): string {
  return version
    ? `${r.key} needs RabbitMQ >= ${r.minimum}; cluster ${cluster} runs ${version}`
    : `${r.key} needs RabbitMQ >= ${r.minimum}; the version of cluster ${cluster} is not known yet (validated when first observed)`;
}
