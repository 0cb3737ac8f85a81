import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { notifyClustersChanged } from '../common/changes';
import { requestContext } from '../common/context/request-context';
import { SecretBox } from '../common/crypto/secret-box';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { AppConfig } from '../config/config.module';
import {
  linkUsername,
  newLinkPassword,
  newSalt,
  otherSlot,
  readSlotSecret,
  writeSlotSecret,
  type LinkUserSlot,
} from './link-user-credentials';
import type { ClusterRefView, LinkUserRotationView, LinkUserView } from './link-users.dto';

interface RotationRecord {
  id: string;
  status: 'verifying' | 'switching' | 'completed';
  from_username: string;
  to_username: string;
  attempts: number;
  last_error: string | null;
  requested_by: string | null;
  applied_by: string[];
  created_at: Date;
  verified_at: Date | null;
  switched_at: Date | null;
  completed_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Link-user state and rotation requests. The broker side (writing and verifying the new user,
 * switching, deleting the previous one) happens in the cluster's reconcile passes, which this
 * service only wakes up: features never call the reconciler.
 */
@Injectable()
export class LinkUsersService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly env: AppConfig,
  ) {}

  async status(clusterId: string): Promise<LinkUserView> {
    const [c] = (await this.ds.query(`SELECT id, link_user_slot FROM clusters WHERE id = $1`, [
      clusterId,
    ])) as { id: string; link_user_slot: LinkUserSlot }[];
    if (!c) throw DomainException.notFound('cluster', clusterId);
    const vhosts = (await this.ds.query(
      `SELECT upstream_vhost AS vhost FROM federation_links WHERE upstream_cluster_id = $1
       UNION SELECT destination_vhost FROM shovels WHERE destination_cluster_id = $1 ORDER BY 1`,
      [clusterId],
    )) as { vhost: string }[];
    const connecting = (await this.ds.query(
      `SELECT c.id AS "clusterId", c.name FROM clusters c WHERE c.id IN (
         SELECT downstream_cluster_id FROM federation_links WHERE upstream_cluster_id = $1
         UNION SELECT source_cluster_id FROM shovels WHERE destination_cluster_id = $1)
       ORDER BY c.seq`,
      [clusterId],
    )) as ClusterRefView[];
    const [r] = (await this.ds.query(
      `SELECT * FROM link_user_rotations WHERE cluster_id = $1 ORDER BY seq DESC LIMIT 1`,
      [clusterId],
    )) as RotationRecord[];
    return {
      clusterId,
      username: linkUsername(this.env.LINK_USER_NAME, c.link_user_slot),
      vhosts: vhosts.map((v) => v.vhost),
      connectingClusters: connecting,
      rotation: r ? await this.rotationView(r, connecting) : null,
    };
  }

  private async rotationView(
    r: RotationRecord,
    connecting: ClusterRefView[],
  ): Promise<LinkUserRotationView> {
    const applied = r.applied_by.length
      ? ((await this.ds.query(
          `SELECT id AS "clusterId", name FROM clusters WHERE id = ANY($1) ORDER BY seq`,
          [r.applied_by],
        )) as ClusterRefView[])
      : [];
    return {
      id: r.id,
      status: r.status,
      fromUsername: r.from_username,
      toUsername: r.to_username,
      attempts: r.attempts,
      lastError: r.last_error,
      requestedBy: r.requested_by,
      startedAt: r.created_at.toISOString(),
      verifiedAt: iso(r.verified_at),
      switchedAt: iso(r.switched_at),
      completedAt: iso(r.completed_at),
      appliedBy: applied,
      waitingFor:
        r.status === 'completed'
          ? []
          : connecting.filter((c) => !r.applied_by.includes(c.clusterId)),
    };
  }

  /**
   * Starts a rotation: a new password for the other slot's user, sealed here; the cluster's next
   * pass writes that user, proves it with an AMQP login, and only then switches the URIs.
   */
  async rotate(clusterId: string): Promise<LinkUserView> {
    await this.ds.transaction(async (m) => {
      const [c] = (await m.query(
        `SELECT id, name, site_id, link_user_slot FROM clusters WHERE id = $1 FOR UPDATE`,
        [clusterId],
      )) as { id: string; name: string; site_id: string; link_user_slot: LinkUserSlot }[];
      if (!c) throw DomainException.notFound('cluster', clusterId);
      const [busy] = (await m.query(
        `SELECT status FROM link_user_rotations WHERE cluster_id = $1 AND status <> 'completed'`,
        [clusterId],
      )) as { status: string }[];
      if (busy) {
        throw DomainException.conflict(
          ErrorCode.Conflict,
          `a link-user rotation of this cluster is already ${busy.status}: wait for it to complete`,
        );
      }
      const from = c.link_user_slot;
      const to = otherSlot(from);
      // The current credential must exist to be the one kept during the switch.
      if (!(await readSlotSecret(m, this.box, clusterId, from))) {
        await writeSlotSecret(m, this.box, clusterId, from, {
          password: newLinkPassword(),
          salt: newSalt(),
        });
      }
      await writeSlotSecret(m, this.box, clusterId, to, {
        password: newLinkPassword(),
        salt: newSalt(),
      });
      const fromUsername = linkUsername(this.env.LINK_USER_NAME, from);
      const toUsername = linkUsername(this.env.LINK_USER_NAME, to);
      const [row] = (await m.query(
        `INSERT INTO link_user_rotations (cluster_id, from_slot, to_slot, from_username, to_username, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [
          clusterId,
          from,
          to,
          fromUsername,
          toUsername,
          requestContext.current()?.actor?.name ?? null,
        ],
      )) as { id: string }[];
      await this.audit.record(m, {
        action: 'cluster.link-user.rotate',
        resourceType: 'cluster',
        resourceId: clusterId,
        resourceName: c.name,
        siteIds: [c.site_id],
        clusterIds: [clusterId],
        before: { username: fromUsername },
        after: { username: toUsername, status: 'verifying' },
        details: { rotationId: row.id, password: '(new, not recorded)' },
      });
      await notifyClustersChanged(m, [clusterId]);
    });
    return this.status(clusterId);
  }
}
