import type { EntityManager } from 'typeorm';

/** The SQL of the write-time broker-version check. */

export interface ClusterVersionRow {
  id: string;
  /** `site/cluster`. */
  name: string;
  /** As last observed; null when never observed. */
  broker_version: string | null;
}

/** The clusters' last reported broker versions, in registration order. */
export function clusterVersions(
  m: Pick<EntityManager, 'query'>,
  clusterIds: readonly string[],
): Promise<ClusterVersionRow[]> {
  return m.query<ClusterVersionRow[]>(
    `SELECT c.id, s.name || '/' || c.name AS name, c.broker_version FROM clusters c JOIN sites s ON s.id = c.site_id
      WHERE c.id = ANY($1) ORDER BY c.seq`,
    [clusterIds],
  );
}
