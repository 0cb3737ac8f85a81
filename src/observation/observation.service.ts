import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BrokerGateway } from '../broker/broker-gateway';
import { ClustersService } from '../clusters/clusters.service';
import { DomainException } from '../common/errors/domain.exception';
import { redactValue } from '../common/logging/redact';
import type { ClusterObservation } from './observation.types';
import { observeCluster } from './observe-cluster';
import { CertificateWatch } from '../clusters/certificate-watch';
import type { CertificateReading } from '../broker/tls-certificates';
import { lastObservation, otherClustersNamed, storeObservation } from './observation.repository';

export interface StoredObservation extends ClusterObservation {
  clusterId: string;
  /**
   * TLS clusters: the certificate each endpoint presents (management, AMQPS, link endpoints,
   * load balancer) with its days to expiry and whether it verifies against the cluster's CA
   * bundle. Empty without TLS.
   */
  tlsCertificates: CertificateReading[];
  /** Other registered clusters whose declared broker cluster name equals the observed one. */
  clusterNameAlsoRegisteredBy: string[];
}

/** Reads a registered cluster through its management API and keeps the last observation. */
@Injectable()
export class ObservationService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly clusters: ClustersService,
    private readonly certs: CertificateWatch,
    private readonly gateway: BrokerGateway,
  ) {}

  async observe(clusterId: string): Promise<StoredObservation> {
    const access = await this.clusters.access(clusterId);
    const client = this.gateway.management(access);
    const observation = await observeCluster(client, {
      brokerClusterName: access.cluster.brokerClusterName,
      nodes: access.nodes.map((n) => ({
        name: n.name,
        host: n.host,
        managementPort: n.managementPort,
        type: n.type,
      })),
      partitionHandling: access.cluster.partitionHandling,
    });
    const tlsCertificates = await this.certs.read(access);
    const sameName = observation.clusterName
      ? await otherClustersNamed(this.ds, observation.clusterName, clusterId)
      : [];
    // Broker text (errors, alarms) may echo credentials in any encoding: scrub before storing.
    const stored: StoredObservation = redactValue({
      clusterId,
      ...observation,
      tlsCertificates,
      clusterNameAlsoRegisteredBy: sameName,
    });
    if (sameName.length) {
      stored.differences = [
        ...stored.differences,
        {
          kind: 'cluster-name-mismatch',
          detail: `the broker carries cluster name ${observation.clusterName}, which is also declared by registered cluster(s) ${sameName.join(', ')}: loop detection and federation queue names would collide`,
        } as ClusterObservation['differences'][number],
      ];
    }
    // Stored scrubbed, for later validation (broker version) and GET .../observation.
    await storeObservation(this.ds, clusterId, JSON.stringify(stored), observation.rabbitmqVersion);
    return stored;
  }

  async last(clusterId: string): Promise<StoredObservation> {
    const last = await lastObservation<StoredObservation>(this.ds, clusterId);
    if (last === undefined) throw DomainException.notFound('cluster', clusterId);
    if (!last) throw DomainException.notFound('observation of cluster', clusterId);
    return last;
  }
}
