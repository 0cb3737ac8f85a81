import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { readCertificate, tlsEndpoints, type CertificateReading } from '../broker/tls-certificates';
import { AppConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import type { ClusterAccess } from './cluster-access.service';
import { siteLoadBalancerEndpoint } from './clusters.repository';

/**
 * Reads the certificates a TLS cluster's endpoints present (management, AMQPS, link endpoints,
 * the site's load balancer), at most every TLS_CERT_CHECK_INTERVAL_MS per cluster, and keeps
 * crossdock_tls_certificate_expiry_days{cluster,endpoint} current.
 */
@Injectable()
export class CertificateWatch {
  private readonly readings = new Map<string, { at: number; list: CertificateReading[] }>();
  private readonly running = new Map<string, Promise<CertificateReading[]>>();
  readonly expiryDays: Gauge<'cluster' | 'endpoint'>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly env: AppConfig,
    metrics: MetricsService,
  ) {
    this.expiryDays = new Gauge({
      name: 'crossdock_tls_certificate_expiry_days',
      help: 'Whole days until the certificate a cluster endpoint presents expires (negative: expired); cluster = broker cluster name',
      labelNames: ['cluster', 'endpoint'],
      registers: [metrics.registry],
    });
  }

  /** The last readings of a cluster (empty when it has no TLS or was not read yet). */
  last(clusterId: string): CertificateReading[] {
    return this.readings.get(clusterId)?.list ?? [];
  }

  /** True when the cluster's readings are older than the check interval. */
  due(clusterId: string): boolean {
    const r = this.readings.get(clusterId);
    return !r || Date.now() - r.at >= this.env.TLS_CERT_CHECK_INTERVAL_MS;
  }

  /** Reads every endpoint now (one at a time per cluster; concurrent callers share the read). */
  read(access: ClusterAccess): Promise<CertificateReading[]> {
    const id = access.cluster.id;
    const cur = this.running.get(id);
    if (cur) return cur;
    const p = this.readNow(access).finally(() => this.running.delete(id));
    this.running.set(id, p);
    return p;
  }

  private async readNow(access: ClusterAccess): Promise<CertificateReading[]> {
    const { cluster } = access;
    if (!access.tls) {
      this.readings.delete(cluster.id);
      return [];
    }
    const site = await siteLoadBalancerEndpoint(this.ds, cluster.siteId);
    const endpoints = tlsEndpoints(
      access.nodes,
      cluster.linkEndpoints,
      site?.host && site.port ? { host: site.host, port: site.port } : null,
    );
    const tls = access.tls;
    const list = await Promise.all(
      endpoints.map((e) =>
        readCertificate(
          e.endpoint,
          e.host,
          e.port,
          tls,
          this.env.BROKER_HTTP_TIMEOUT_MS,
          Date.now,
          access.networks,
        ),
      ),
    );
    const previous = this.readings.get(cluster.id)?.list ?? [];
    for (const r of previous)
      if (!list.some((x) => x.endpoint === r.endpoint))
        this.expiryDays.remove({ cluster: cluster.brokerClusterName, endpoint: r.endpoint });
    for (const r of list) {
      if (r.daysToExpiry === null)
        this.expiryDays.remove({ cluster: cluster.brokerClusterName, endpoint: r.endpoint });
      else
        this.expiryDays.set(
          { cluster: cluster.brokerClusterName, endpoint: r.endpoint },
          r.daysToExpiry,
        );
    }
    this.readings.set(cluster.id, { at: Date.now(), list });
    return list;
  }
}
