import { connect } from 'amqplib';
import { PlaintextRefusedError, tlsConnectOptions, type BrokerTls } from '../broker/broker-tls';
import { managementPaths } from '../broker-topology/broker-paths';
import type { AllowedNetworks } from '../common/net/allowed-networks';
import type { DataSource } from 'typeorm';
import { systemActor, type AuditService } from '../audit/audit.service';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import type { ClusterEntity } from '../clusters/cluster.entity';
import {
  activeLinkCredential,
  readSlotSecret,
  writeSlotSecret,
  type LinkUserSlot,
} from '../clusters/link-user-credentials';
import { notifyClustersChanged } from '../common/changes';
import type { SecretBox } from '../common/crypto/secret-box';
import { redactString } from '../common/logging/redact';
import type { ClusterLock } from './cluster-lock';
import { linkUris } from '../broker-topology/link-uri';
import type { RegistrySnapshot } from './compile';
import { deleteLinkUser, ensureLinkUser, rabbitPasswordHash } from './link-user';
import { declaredByLinks, isLinkTarget } from './registry-snapshot';
import { clusterAuditTarget } from '../audit/audit-target';

export interface LinkUserDeps {
  ds: DataSource;
  box: SecretBox;
  audit: AuditService;
  /** LINK_USER_NAME: slot a's user; slot b's is `<name>-b`. */
  baseUsername: string;
  /** Bound on one AMQP login attempt. */
  timeoutMs: number;
  /** BROKER_ALLOWED_NETWORKS, applied to the verifying logins too. */
  networks?: AllowedNetworks;
  /** The cluster's TLS material: the verifying logins go over AMQPS, verified, with it. */
  tls?: BrokerTls;
}

export interface RotationRow {
  id: string;
  cluster_id: string;
  from_slot: LinkUserSlot;
  to_slot: LinkUserSlot;
  from_username: string;
  to_username: string;
  status: 'verifying' | 'switching' | 'completed';
  attempts: number;
  last_error: string | null;
  applied_by: string[];
  refresh_requested: string[];
}

export async function unfinishedRotation(
  ds: DataSource,
  clusterId: string,
): Promise<RotationRow | undefined> {
  const [row] = (await ds.query(
    `SELECT id, cluster_id, from_slot, to_slot, from_username, to_username, status, attempts,
            last_error, applied_by, refresh_requested
     FROM link_user_rotations WHERE cluster_id = $1 AND status <> 'completed'`,
    [clusterId],
  )) as RotationRow[];
  return row;
}

/** Clusters whose broker objects (upstreams, shovels) carry this cluster's link credential. */
export async function connectingClusters(ds: DataSource, clusterId: string): Promise<string[]> {
  const rows = (await ds.query(
    `SELECT downstream_cluster_id AS id FROM federation_links WHERE upstream_cluster_id = $1
     UNION SELECT source_cluster_id FROM shovels WHERE destination_cluster_id = $1`,
    [clusterId],
  )) as { id: string }[];
  return rows.map((r) => r.id).sort();
}

/** The URIs other clusters use to reach `cluster` (same endpoints, same vhosts), with `cred`. */
async function uris(
  ds: DataSource,
  cluster: ClusterEntity,
  cred: { username: string; password: string },
  vhosts: string[],
): Promise<string[]> {
  const [site] = (await ds.query(
    `SELECT load_balancer_host AS host, load_balancer_port AS port FROM sites WHERE id = $1`,
    [cluster.siteId],
  )) as { host: string | null; port: number | null }[];
  const s: Pick<RegistrySnapshot, 'clusters' | 'sites' | 'linkCredentials'> = {
    clusters: {
      [cluster.id]: {
        id: cluster.id,
        siteId: cluster.siteId,
        brokerClusterName: cluster.brokerClusterName,
        linkEndpoints: cluster.linkEndpoints,
        tls: cluster.tls,
      },
    },
    sites: {
      [cluster.siteId]: {
        id: cluster.siteId,
        loadBalancer: site?.host && site.port ? { host: site.host, port: site.port } : null,
      },
    },
    linkCredentials: { [cluster.id]: cred },
  };
  return vhosts.flatMap((v) => linkUris(s, cluster.id, v));
}

/**
 * Logs in over AMQP on every URI (each endpoint and vhost other clusters will use) and opens a
 * channel: the credential is proven where links will use it, not only written. Errors name the
 * endpoint, never the password.
 */
export async function verifyAmqpLogin(
  list: string[],
  timeoutMs: number,
  networks?: AllowedNetworks,
  tls?: BrokerTls,
): Promise<void> {
  for (const uri of list) {
    const where = redactString(uri.replace(/\?.*$/, ''));
    const secure = uri.startsWith('amqps://');
    if (tls && !secure) throw new PlaintextRefusedError(`AMQP (${where})`);
    try {
      if (networks?.restricted) networks.checkLiteral(new URL(uri).hostname);
      // The link URI's query names files on the broker nodes; crossdock verifies with its own copy.
      const conn = await connect(secure ? uri.replace(/\?.*$/, '') : uri, {
        timeout: timeoutMs,
        ...(secure && tls ? tlsConnectOptions(tls) : {}),
        ...(networks?.restricted ? { lookup: networks.lookup } : {}),
      });
      conn.on('error', () => undefined);
      try {
        const ch = await conn.createChannel();
        await ch.close();
      } finally {
        await conn.close().catch(() => undefined);
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      // No `cause`: the client's error may carry the URI, and with it the password.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`AMQP login to ${where} failed: ${redactString(why)}`);
    }
  }
}

/**
 * The link-user part of a pass on a cluster other clusters connect to (under its lock, before
 * the plan is applied):
 * - the active slot's user exists with its password and permissions (as before rotations);
 * - rotation `verifying`: the new slot's user is written, then proven with a real AMQP login on
 *   every endpoint and vhost; only then does the active slot switch (other clusters' URIs follow
 *   on their next pass) and the connecting clusters are told to reconcile;
 * - rotation `switching`: the previous user stays until every connecting cluster has applied
 *   the new URIs (recorded by their passes) and no connection logs in with it any more (links
 *   it names are restarted by their cluster); then it is deleted and the rotation completes.
 * A failed verification leaves everything as it was and is retried on the next pass.
 */
export async function syncLinkUsers(
  d: LinkUserDeps,
  cluster: ClusterEntity,
  client: ManagementClient,
  lock: ClusterLock,
): Promise<void> {
  const vhosts = [...new Set(await isLinkTarget(d.ds, cluster.id))];
  const rotation = await unfinishedRotation(d.ds, cluster.id);
  if (vhosts.length === 0 && !rotation) return;
  const declares = await declaredByLinks(d.ds, cluster.id);
  const write = async (cred: { username: string; password: string; salt: string }) => {
    if (!(await lock.stillHeld()))
      throw new Error('the cluster lock was lost before the link user write');
    return ensureLinkUser(
      client,
      cred.username,
      rabbitPasswordHash(cred.password, cred.salt),
      vhosts,
      declares,
    );
  };
  const audit = (action: string, details: Record<string, unknown>) =>
    d.audit.recordStandalone({
      action,
      ...clusterAuditTarget(cluster),
      actor: systemActor('reconciler'),
      details,
    });

  const active = await activeLinkCredential(d.ds, d.box, cluster.id, d.baseUsername);
  if (vhosts.length) await write(active);
  if (!rotation) return;

  if (rotation.status === 'verifying') {
    const next = await readSlotSecret(d.ds.manager, d.box, cluster.id, rotation.to_slot);
    if (!next) throw new Error(`rotation ${rotation.id} has no credential in its new slot`);
    const cred = { ...next, username: rotation.to_username };
    let checked = 0;
    try {
      if (vhosts.length) {
        const created = await write(cred);
        if (created.writes > 0)
          await audit('cluster.link-user.write', {
            rotationId: rotation.id,
            username: cred.username,
            vhosts,
          });
        const list = await uris(d.ds, cluster, cred, vhosts);
        await verifyAmqpLogin(list, d.timeoutMs, d.networks, d.tls);
        checked = list.length;
      }
    } catch (err) {
      const message = redactString(err instanceof Error ? err.message : String(err));
      await d.ds.query(
        `UPDATE link_user_rotations SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1`,
        [rotation.id, message],
      );
      if (message !== rotation.last_error)
        await audit('cluster.link-user.rotation.verify-failed', {
          rotationId: rotation.id,
          username: cred.username,
          error: message,
        });
      return;
    }
    const waiting = await connectingClusters(d.ds, cluster.id);
    await d.ds.transaction(async (m) => {
      await m.query(`UPDATE clusters SET link_user_slot = $2 WHERE id = $1`, [
        cluster.id,
        rotation.to_slot,
      ]);
      await m.query(
        `UPDATE link_user_rotations SET status = 'switching', attempts = attempts + 1, last_error = NULL,
           verified_at = now(), switched_at = now(), updated_at = now() WHERE id = $1`,
        [rotation.id],
      );
      await d.audit.record(m, {
        action: 'cluster.link-user.rotation.switch',
        resourceType: 'cluster',
        resourceId: cluster.id,
        resourceName: cluster.name,
        siteIds: [cluster.siteId],
        clusterIds: [cluster.id, ...waiting],
        actor: systemActor('reconciler'),
        before: { username: rotation.from_username },
        after: { username: rotation.to_username },
        details: { rotationId: rotation.id, verifiedLogins: checked, waitingFor: waiting },
      });
      await notifyClustersChanged(m, waiting);
    });
    // The previous user stays in place for the clusters that have not switched yet.
    const previous = await readSlotSecret(d.ds.manager, d.box, cluster.id, rotation.from_slot);
    if (previous && vhosts.length) await write({ ...previous, username: rotation.from_username });
    return;
  }

  // switching
  const applied = new Set(rotation.applied_by);
  const waiting = (await connectingClusters(d.ds, cluster.id)).filter((id) => !applied.has(id));
  if (waiting.length) {
    const previous = await readSlotSecret(d.ds.manager, d.box, cluster.id, rotation.from_slot);
    if (previous && vhosts.length) await write({ ...previous, username: rotation.from_username });
    return;
  }
  // Every connecting cluster stored the new URIs, but a running link can keep its old definition
  // (a write the broker stored without restarting the link): deleting the user would cut it, and
  // its supervisor would retry with the old credential forever. Wait until nobody logs in with it.
  const lingering = await connectionsOf(client, rotation.from_username);
  if (lingering.length) {
    const names = staleObjectNames(lingering);
    const shown = lingering
      .slice(0, 5)
      .map((c) => c.user_provided_name ?? c.name)
      .join('; ');
    await d.ds.transaction(async (m) => {
      await m.query(
        `UPDATE link_user_rotations SET last_error = $2, updated_at = now() WHERE id = $1`,
        [
          rotation.id,
          redactString(
            `${lingering.length} connection(s) still log in as ${rotation.from_username}: ${shown}`,
          ),
        ],
      );
      if (names.length === 0) return;
      // Ask the connecting clusters to re-create those objects: once per set, then every 30 s.
      const asked = (await m.query(
        `UPDATE link_user_rotations SET refresh_requested = $2, refresh_pending = $2, refresh_requested_at = now()
         WHERE id = $1 AND (refresh_requested <> $2 OR refresh_requested_at IS NULL
           OR refresh_requested_at < now() - interval '30 seconds')
         RETURNING id`,
        [rotation.id, names],
      )) as [unknown[], number];
      if (asked[0].length === 0) return;
      await d.audit.record(m, {
        action: 'cluster.link-user.rotation.refresh-requested',
        resourceType: 'cluster',
        resourceId: cluster.id,
        resourceName: cluster.name,
        siteIds: [cluster.siteId],
        clusterIds: [cluster.id, ...rotation.applied_by],
        actor: systemActor('reconciler'),
        details: { rotationId: rotation.id, objects: names, connections: lingering.length },
      });
      await notifyClustersChanged(m, rotation.applied_by);
    });
    return;
  }
  if (!(await lock.stillHeld()))
    throw new Error('the cluster lock was lost before the link user delete');
  await d.audit.aroundBrokerCall(
    {
      action: 'cluster.link-user.delete',
      ...clusterAuditTarget(cluster),
      actor: systemActor('reconciler'),
      details: { rotationId: rotation.id, username: rotation.from_username },
    },
    () => deleteLinkUser(client, rotation.from_username),
  );
  await d.ds.transaction(async (m) => {
    await writeSlotSecret(m, d.box, cluster.id, rotation.from_slot, null);
    await m.query(
      `UPDATE link_user_rotations SET status = 'completed', completed_at = now(), updated_at = now() WHERE id = $1`,
      [rotation.id],
    );
    await d.audit.record(m, {
      action: 'cluster.link-user.rotation.complete',
      ...clusterAuditTarget(cluster),
      actor: systemActor('reconciler'),
      details: {
        rotationId: rotation.id,
        retired: rotation.from_username,
        active: rotation.to_username,
      },
    });
  });
}

interface BrokerConnection {
  name: string;
  user?: string;
  /** The client's `connection_name` (federation: `Federation link (upstream: ..., policy: ...)`). */
  user_provided_name?: string;
}

/**
 * Connections on this cluster that logged in as `username`. The per-user listing is cheap but
 * carries no client-given names (3.10: name, vhost, user, node), so the names come from the
 * full listing, only when there is something to name.
 */
async function connectionsOf(
  client: ManagementClient,
  username: string,
): Promise<BrokerConnection[]> {
  const some = await client
    .get<BrokerConnection[]>(managementPaths.connectionsOf(username))
    .catch((err: unknown) => (err instanceof BrokerNotFoundError ? [] : Promise.reject(err)));
  if (!Array.isArray(some) || some.length === 0) return [];
  const all = await client.get<BrokerConnection[]>(managementPaths.connections, {
    query: { columns: 'name,user,user_provided_name' },
  });
  const named = Array.isArray(all) ? all.filter((c) => c.user === username) : [];
  return named.length ? named : some;
}

/**
 * Crossdock upstreams and shovels named by connections (federation links call theirs
 * `Federation link (upstream: <name>, policy: ...)`, shovels carry their name too).
 */
export function staleObjectNames(connections: readonly BrokerConnection[]): string[] {
  const names = new Set<string>();
  for (const c of connections) {
    for (const m of (c.user_provided_name ?? '').matchAll(/crossdock\.(?:up|sh)\.[A-Za-z0-9_-]+/g))
      names.add(m[0]);
  }
  return [...names].sort();
}
