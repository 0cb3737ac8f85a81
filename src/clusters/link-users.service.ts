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
} from './link-user-credentials';
import type { ClusterRefView, LinkUserRotationView, LinkUserView } from './link-users.dto';
import {
  activeSlot,
  clusterRefs,
  connectingClusters,
  insertRotation,
  latestRotation,
  linkedVhosts,
  lockClusterForRotation,
  unfinishedRotationStatus,
  type LinkUserRotationRow,
} from './link-users.repository';

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
    const c = await activeSlot(this.ds, clusterId);
    if (!c) throw DomainException.notFound('cluster', clusterId);
    const vhosts = await linkedVhosts(this.ds, clusterId);
    const connecting: ClusterRefView[] = await connectingClusters(this.ds, clusterId);
    const r = await latestRotation(this.ds, clusterId);
    return {
      clusterId,
      username: linkUsername(this.env.LINK_USER_NAME, c.link_user_slot),
      vhosts,
      connectingClusters: connecting,
      rotation: r ? await this.rotationView(r, connecting) : null,
    };
  }

  private async rotationView(
    r: LinkUserRotationRow,
    connecting: ClusterRefView[],
  ): Promise<LinkUserRotationView> {
    const applied: ClusterRefView[] = r.applied_by.length
      ? await clusterRefs(this.ds, r.applied_by)
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
      const c = await lockClusterForRotation(m, clusterId);
      if (!c) throw DomainException.notFound('cluster', clusterId);
      const busy = await unfinishedRotationStatus(m, clusterId);
      if (busy) {
        throw DomainException.conflict(
          ErrorCode.Conflict,
          `a link-user rotation of this cluster is already ${busy}: wait for it to complete`,
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
      const rotationId = await insertRotation(m, {
        clusterId,
        from,
        to,
        fromUsername,
        toUsername,
        requestedBy: requestContext.current()?.actor?.name ?? null,
      });
      await this.audit.record(m, {
        action: 'cluster.link-user.rotate',
        resourceType: 'cluster',
        resourceId: clusterId,
        resourceName: c.name,
        siteIds: [c.site_id],
        clusterIds: [clusterId],
        before: { username: fromUsername },
        after: { username: toUsername, status: 'verifying' },
        details: { rotationId, password: '(new, not recorded)' },
      });
      await notifyClustersChanged(m, [clusterId]);
    });
    return this.status(clusterId);
  }
}
