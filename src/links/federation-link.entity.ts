import type { FederationSettings } from '../broker-topology/link-settings';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type { FederationSettings };

@Entity('federation_links')
export class FederationLinkEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ type: 'varchar' }) kind!: 'exchange' | 'queue';
  @Column({ name: 'downstream_cluster_id', type: 'uuid' }) downstreamClusterId!: string;
  @Column({ name: 'downstream_vhost', type: 'varchar' }) downstreamVhost!: string;
  @Column({ name: 'upstream_cluster_id', type: 'uuid' }) upstreamClusterId!: string;
  @Column({ name: 'upstream_vhost', type: 'varchar' }) upstreamVhost!: string;
  @Column({ type: 'text', array: true }) targets!: string[];
  @Column({ name: 'target_prefix', type: 'varchar', nullable: true }) targetPrefix!: string | null;
  /** The upstream parameter's name when it is not `crossdock.up.<name>` (an adopted upstream). */
  @Column({ name: 'broker_upstream_name', type: 'varchar', nullable: true })
  brokerUpstreamName!: string | null;
  /** The exchange (exchange links) or queue (queue links) upstream, when named differently. */
  @Column({ name: 'upstream_object', type: 'varchar', nullable: true })
  upstreamObject!: string | null;
  @Column({ type: 'jsonb' }) settings!: FederationSettings;
  @Column({ type: 'boolean' }) paused!: boolean;
  @Column({ name: 'deletion_policy', type: 'varchar' }) deletionPolicy!: 'delete' | 'retain';
  @Column({ type: 'int' }) generation!: number;
  @Column({ name: 'applied_generation', type: 'int', insert: false, update: false })
  appliedGeneration!: number;
  @Column({ type: 'int' }) version!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
