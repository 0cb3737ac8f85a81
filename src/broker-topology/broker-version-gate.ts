import type { EntityManager } from 'typeorm';
import { checkVersion, unmetText, type VersionRequirement } from './broker-versions';
import { DomainException, type FieldError } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { clusterVersions } from './broker-version-gate.repository';

export interface UnmetRequirement extends VersionRequirement {
  clusterId: string;
  cluster: string;
  version: string;
}

/**
 * Write-time half of the version check: every cluster the resource lands on must know its keys,
 * by the version each one last reported. A known too-old version is a 422 naming the key, the
 * cluster, its version and the minimum; a cluster never observed is accepted with a warning and
 * checked by the reconciler when it first observes it (the resource is held back there).
 */
export async function checkBrokerVersions(
  m: EntityManager,
  clusterIds: readonly string[],
  reqs: readonly VersionRequirement[],
  field: string,
): Promise<string[]> {
  if (reqs.length === 0 || clusterIds.length === 0) return [];
  const rows = await clusterVersions(m, clusterIds);
  const unmet: UnmetRequirement[] = [];
  const warnings: string[] = [];
  for (const c of rows) {
    const verdict = checkVersion(c.broker_version, reqs);
    for (const r of verdict.tooOld)
      unmet.push({ ...r, clusterId: c.id, cluster: c.name, version: c.broker_version as string });
    for (const r of verdict.unknown) warnings.push(unmetText(r, c.name, c.broker_version));
  }
  if (unmet.length) {
    const errors: FieldError[] = unmet.map((u) => ({
      field,
      message: unmetText(u, u.cluster, u.version),
    }));
    throw new DomainException(
      ErrorCode.UnsupportedByBrokerVersion,
      422,
      'Unsupported by the broker version',
      errors.map((e) => e.message).join('; '),
      errors,
      { unsupported: unmet },
    );
  }
  return warnings;
}
