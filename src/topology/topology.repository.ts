import type { DataSource, EntityManager, SelectQueryBuilder } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { TopologyObjectEntity, type TopologyKind } from './topology-object.entity';

type Db = Pick<EntityManager, 'query'>;

export interface ObjectState {
  /** In the ownership ledger: crossdock created or adopted it. */
  owned: boolean;
  confirmed: boolean;
  /** The latest pass's finding about it (a conflict), if any. */
  conflict: string | null;
}

/** The SQL of the topology resources (the registry rows are read through TypeORM). */
export const topologyRepository = {
  async cluster(
    m: Db,
    clusterId: string,
  ): Promise<{ id: string; site_id: string; label: string; vhosts: string[] } | undefined> {
    const [row] = (await m.query(
      `SELECT c.id, c.site_id, s.name || '/' || c.name AS label, c.vhosts
         FROM clusters c JOIN sites s ON s.id = c.site_id WHERE c.id = $1`,
      [clusterId],
    )) as { id: string; site_id: string; label: string; vhosts: string[] }[];
    return row;
  },

  /**
   * The ledger rows and the latest finished pass's conflict findings of these owners, from one
   * cluster (the statuses of one page).
   */
  async states(
    m: Db,
    clusterId: string,
    objects: readonly { id: string; kind: TopologyKind; vhost: string; name: string }[],
  ): Promise<Map<string, ObjectState>> {
    const out = new Map<string, ObjectState>();
    if (objects.length === 0) return out;
    const owners = objects.map((o) => `${o.kind}:${o.id}`);
    const ledger = (await m.query(
      `SELECT owner, confirmed FROM managed_objects WHERE cluster_id = $1 AND owner = ANY($2::text[])`,
      [clusterId, owners],
    )) as { owner: string; confirmed: boolean }[];
    const [run] = (await m.query(
      `SELECT findings FROM reconcile_runs
        WHERE cluster_id = $1 AND NOT dry_run AND status <> 'running' ORDER BY seq DESC LIMIT 1`,
      [clusterId],
    )) as {
      findings:
        | { kind: string; key: { kind: string; vhost: string; name: string }; detail: string }[]
        | null;
    }[];
    const conflicts = new Map<string, string>();
    for (const f of run?.findings ?? []) {
      if (f.kind !== 'definition-conflict') continue;
      conflicts.set(`${f.key.kind}\u0001${f.key.vhost}\u0001${f.key.name}`, f.detail);
    }
    for (const o of objects) {
      const row = ledger.find((l) => l.owner === `${o.kind}:${o.id}`);
      out.set(o.id, {
        owned: !!row,
        confirmed: !!row?.confirmed,
        conflict: conflicts.get(`${o.kind}\u0001${o.vhost}\u0001${o.name}`) ?? null,
      });
    }
    return out;
  },

  /**
   * Whether an exchange or queue is declared on the cluster or was seen there by the last pass
   * (the names it observed): a binding to anything else waits until it exists.
   */
  async exists(
    m: Db,
    clusterId: string,
    kind: 'exchange' | 'queue',
    vhost: string,
    name: string,
  ): Promise<boolean> {
    const [row] = (await m.query(
      `SELECT EXISTS (SELECT 1 FROM topology_objects
                       WHERE cluster_id = $1 AND kind = $2 AND vhost = $3 AND name = $4)
           OR COALESCE((SELECT observed_objects->'known'->($3::text)->($5::text) ? ($4::text) FROM clusters WHERE id = $1), false)
           AS present`,
      [clusterId, kind, vhost, name, kind === 'queue' ? 'queues' : 'exchanges'],
    )) as { present: boolean }[];
    return !!row?.present;
  },

  /** Retain: the object stays on the broker and leaves crossdock's ledger (nobody owns it). */
  async release(m: Db, clusterId: string, owner: string): Promise<void> {
    await m.query(`DELETE FROM managed_objects WHERE cluster_id = $1 AND owner = $2`, [
      clusterId,
      owner,
    ]);
  },

  /** Delete: the next pass deletes the owned object (no registry row wants it any more). */
  async markDeletable(m: Db, clusterId: string, owner: string): Promise<void> {
    await m.query(
      `UPDATE managed_objects SET ensure_only = false WHERE cluster_id = $1 AND owner = $2`,
      [clusterId, owner],
    );
  },

  declaredIds: (m: Db, clusterId: string) => declaredIdsOf(m, clusterId),

  /** Declared objects among these, per cluster: what a link's preflight may count as present. */
  async declared(
    m: Db,
    wanted: readonly {
      clusterId: string;
      kind: 'exchange' | 'queue';
      vhost: string;
      name: string;
    }[],
  ): Promise<Set<string>> {
    if (wanted.length === 0) return new Set();
    const rows = (await m.query(
      `SELECT t.cluster_id, t.kind, t.vhost, t.name FROM topology_objects t
         JOIN unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS x(c, k, v, n)
           ON t.cluster_id = x.c AND t.kind = x.k AND t.vhost = x.v AND t.name = x.n`,
      [
        wanted.map((w) => w.clusterId),
        wanted.map((w) => w.kind),
        wanted.map((w) => w.vhost),
        wanted.map((w) => w.name),
      ],
    )) as { cluster_id: string; kind: string; vhost: string; name: string }[];
    return new Set(rows.map((r) => declaredKey(r.cluster_id, r.kind, r.vhost, r.name)));
  },
};

/** objectIds (`kind\u0001vhost\u0001name`) of what one cluster declares. */
export async function declaredIdsOf(m: Db, clusterId: string): Promise<Set<string>> {
  const rows = (await m.query(
    `SELECT kind, vhost, name FROM topology_objects WHERE cluster_id = $1`,
    [clusterId],
  )) as { kind: string; vhost: string; name: string }[];
  return new Set(rows.map((r) => `${r.kind}\u0001${r.vhost}\u0001${r.name}`));
}

export const declaredKey = (clusterId: string, kind: string, vhost: string, name: string) =>
  JSON.stringify([clusterId, kind, vhost, name]);

/** Inserts a declared object and returns its id. */
export async function insertTopologyObject(
  m: Pick<EntityManager, 'createQueryBuilder'>,
  values: QueryDeepPartialEntity<TopologyObjectEntity>,
): Promise<string> {
  const res = await m
    .createQueryBuilder()
    .insert()
    .into(TopologyObjectEntity)
    .values(values)
    .returning('id')
    .execute();
  return (res.raw as { id: string }[])[0].id;
}

/** The declared objects of one kind, filtered (a query builder for the shared paginator). */
export function topologyListQuery(
  ds: Pick<DataSource, 'getRepository'>,
  kind: TopologyKind,
  filter: { clusterId?: string; vhost?: string; name?: string },
): SelectQueryBuilder<TopologyObjectEntity> {
  const qb = ds
    .getRepository(TopologyObjectEntity)
    .createQueryBuilder('t')
    .where('t.kind = :kind', { kind });
  if (filter.clusterId) qb.andWhere('t.cluster_id = :c', { c: filter.clusterId });
  if (filter.vhost !== undefined) qb.andWhere('t.vhost = :v', { v: filter.vhost });
  if (filter.name !== undefined && kind !== 'binding')
    qb.andWhere('t.name = :n', { n: filter.name });
  return qb;
}
