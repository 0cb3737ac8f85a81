import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { LoadBalancerSpec } from './load-balancer-config';

/** A site's load balancer (HAProxy + keepalived): one row per site. */
@Entity('site_load_balancers')
export class SiteLoadBalancerEntity {
  @PrimaryColumn({ name: 'site_id', type: 'uuid' })
  siteId!: string;

  /** The cluster behind the AMQP and management front ends; null: the site's only cluster. */
  @Column({ name: 'cluster_id', type: 'uuid', nullable: true })
  clusterId!: string | null;

  @Column({ type: 'jsonb' })
  spec!: LoadBalancerSpec;

  /** ETag of the haproxy.cfg last rendered for the audit trail: a node change that alters it is audited. */
  @Column({ name: 'haproxy_etag', type: 'varchar', nullable: true })
  haproxyEtag!: string | null;

  @Column({ type: 'int' })
  version!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
