import { Injectable } from '@nestjs/common';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import { LinkPreflightService } from '../links/link-preflight.service';
import type { PreflightNeed } from '../links/preflight';
import { readAlarms } from '../probes/broker-facts';
import { HealthService } from '../probes/health.service';
import {
  alarmCauses,
  blockingAlarms,
  brokerCauses,
  brokerLinkState,
  explainDivergence,
  primaryCause,
  type AlarmFact,
  type LinkCause,
} from '../probes/link-verdict';
import type { DataPlaneView, LinkStatus } from './link-status';

/**
 * What a link status read from the broker means: the shared verdict model (broker state,
 * classified causes, alarms), the data-plane verdict of the health endpoint, and what the
 * preflight finds missing.
 */
@Injectable()
export class LinkStatusExplainer {
  constructor(
    private readonly clusters: ClustersService,
    private readonly gateway: BrokerGateway,
    private readonly health: HealthService,
    private readonly needs: LinkPreflightService,
  ) {}

  /**
   * Adds the preflight's `blocked` reason (cached, rate-limited); a link the broker does not run
   * then says why in its verdict. A preflight that cannot ask a cluster changes nothing.
   */
  async withPreflight(status: LinkStatus, needs: PreflightNeed[]): Promise<LinkStatus> {
    const { blocked } = await this.needs.check(needs);
    if (!blocked) return status;
    const stuck = status.verdict !== 'running' && status.verdict !== 'held-back';
    return { ...status, blocked, ...(stuck ? { verdict: 'blocked' as const } : {}) };
  }

  /**
   * Adds the shared verdict model to a status read from the broker: broker state, classified
   * causes, alarms on both clusters, the data-plane verdict and the sentence that explains a
   * difference. A cluster whose alarms cannot be read is left out (the status still answers).
   */
  async explain(
    status: LinkStatus,
    kind: 'federation' | 'shovel',
    sides: { clusterId: string; side: AlarmFact['side'] }[],
    preflight?: () => Promise<LinkCause | null>,
  ): Promise<LinkStatus> {
    const broker = status.broker.map((b) => {
      const [cause] = brokerCauses([b]);
      return cause ? { ...b, cause } : b;
    });
    const running = broker.filter((b) => b.status === 'running').length;
    const brokerState = brokerLinkState(status.expectedLinks, broker.length, running);
    const alarms: AlarmFact[] = [];
    await Promise.all(
      sides.map(async ({ clusterId, side }) => {
        try {
          const access = await this.clusters.access(clusterId);
          const client = this.gateway.management(access);
          for (const a of await readAlarms(client))
            alarms.push({ side, cluster: access.cluster.name, node: a.node, alarm: a.alarm });
        } catch {
          // alarms are context; a cluster that does not answer shows in `unavailable` or health
        }
      }),
    );
    const causes = broker.flatMap((b) => (b.cause ? [b.cause] : []));
    let cause = primaryCause(causes);
    if (brokerState !== 'running' && preflight && (!cause || cause.code === 'restarting')) {
      const found = await preflight();
      if (found) cause = primaryCause([...causes, found]);
    }
    if (!cause) cause = primaryCause(alarmCauses(blockingAlarms(alarms)));
    let dataPlane: DataPlaneView | undefined;
    try {
      const h = await this.health.link(kind, status.id);
      dataPlane = {
        state: h.state,
        reasons: h.reasons.map((r) => r.code),
        evaluatedAt: h.evaluatedAt,
      };
    } catch {
      dataPlane = undefined;
    }
    const divergence =
      dataPlane && dataPlane.state !== 'completed'
        ? explainDivergence({ broker: brokerState, dataPlane: dataPlane.state, cause })
        : null;
    return {
      ...status,
      broker,
      brokerState,
      ...(cause ? { cause } : {}),
      alarms,
      ...(dataPlane ? { dataPlane } : {}),
      ...(divergence ? { divergence } : {}),
    };
  }
}
