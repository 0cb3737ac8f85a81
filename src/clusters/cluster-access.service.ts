import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { BrokerTls } from '../broker/broker-tls';
import { SecretBox } from '../common/crypto/secret-box';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { AllowedNetworks } from '../common/net/allowed-networks';
import { AppConfig } from '../config/config.module';
import { ClusterEntity } from './cluster.entity';
import { tlsClientKeyAad } from './cluster-tls';
import { unboundEndpoints } from './credential-binding';
import { NodeEntity } from './node.entity';
import { clusterWithSecrets } from './clusters.repository';

/** Decrypted admin access to one cluster; only for broker clients, never serialised. */
export interface ClusterAccess {
  cluster: ClusterEntity;
  nodes: NodeEntity[];
  username: string;
  password: string;
  /** BROKER_ALLOWED_NETWORKS, for every connection made with these credentials. */
  networks: AllowedNetworks;
  /** Set for a cluster configured for TLS: every connection verifies the peer with it. */
  tls?: BrokerTls;
}

/** Hosts a write introduces, with the field that names each, for the network check. */
export interface WrittenHost {
  field: string;
  host: string;
}

/**
 * How crossdock reaches a registered cluster: the networks its endpoints must lie in
 * (BROKER_ALLOWED_NETWORKS) and the decrypted admin access broker clients connect with.
 */
@Injectable()
export class ClusterAccessService {
  readonly networks: AllowedNetworks;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly env: AppConfig,
  ) {
    this.networks = AllowedNetworks.fromEnv(env.BROKER_ALLOWED_NETWORKS);
  }

  /**
   * BROKER_ALLOWED_NETWORKS on write: a host outside the list (as written, or as it resolves
   * now) is refused. A name that does not resolve yet passes here: the check on connect, after
   * resolution, is the one that holds.
   */
  async checkNetworks(hosts: WrittenHost[]): Promise<void> {
    if (!this.networks.restricted) return;
    const errors = [];
    for (const { field, host } of hosts) {
      try {
        await this.networks.check(host, this.env.BROKER_HTTP_TIMEOUT_MS);
      } catch (err) {
        if (err instanceof Error && err.name === 'EndpointNotAllowedError') {
          errors.push({ field, message: err.message });
        }
      }
    }
    if (errors.length)
      throw DomainException.validation(errors, 'Endpoint outside BROKER_ALLOWED_NETWORKS');
  }

  /** For broker clients: decrypts the admin password. Never return this from a controller. */
  async access(id: string): Promise<ClusterAccess> {
    const cluster = await clusterWithSecrets(this.ds, id);
    if (!cluster) throw DomainException.notFound('cluster', id);
    const nodes = await this.ds
      .getRepository(NodeEntity)
      .find({ where: { clusterId: id }, order: { seq: 'ASC' } });
    const unbound = unboundEndpoints(cluster, nodes);
    if (unbound.length) {
      // Not even decrypted: the password goes nowhere it was not entered for.
      throw new DomainException(
        ErrorCode.CredentialsRebindRequired,
        409,
        'Credentials must be entered again',
        `The admin credentials of cluster ${cluster.name} were entered for other endpoints (changed since: ${unbound.join(', ')}); enter them again with PUT /clusters/${id}/credentials`,
        [],
        { unboundEndpoints: unbound },
      );
    }
    if (cluster.tls && cluster.managementScheme !== 'https') {
      throw new DomainException(
        ErrorCode.Conflict,
        409,
        'Plaintext refused',
        `Cluster ${cluster.name} is configured for TLS but its management scheme is ${cluster.managementScheme}: crossdock does not send credentials in clear to it`,
      );
    }
    return {
      cluster,
      nodes,
      username: cluster.adminUsername,
      password: this.box.decrypt(cluster.adminPasswordEnc, id),
      networks: this.networks,
      tls: cluster.tls
        ? {
            ca: cluster.tls.caBundle,
            serverName: cluster.tls.serverName,
            cert: cluster.tls.clientCertificate,
            key: cluster.tlsClientKeyEnc
              ? this.box.decrypt(cluster.tlsClientKeyEnc, tlsClientKeyAad(id))
              : null,
          }
        : undefined,
    };
  }
}
