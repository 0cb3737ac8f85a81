import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { ReplicationRule } from './replication';

export interface Endpoint {
  host: string;
  port: number;
}

export type PartitionHandling = 'pause_minority' | 'autoheal' | 'ignore';

@Entity('clusters')
export class ClusterEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;

  @Column({ name: 'site_id', type: 'uuid' })
  siteId!: string;

  @Column({ type: 'varchar' })
  name!: string;

  @Column({ name: 'broker_cluster_name', type: 'varchar' })
  brokerClusterName!: string;

  @Column({ name: 'management_scheme', type: 'varchar' })
  managementScheme!: 'http' | 'https';

  @Column({ name: 'link_endpoints', type: 'jsonb' })
  linkEndpoints!: Endpoint[];

  @Column({ type: 'text', array: true })
  vhosts!: string[];

  @Column({ name: 'admin_username', type: 'varchar' })
  adminUsername!: string;

  @Column({ name: 'admin_password_enc', type: 'text', select: false })
  adminPasswordEnc!: string;

  @Column({ name: 'credentials_version', type: 'int' })
  credentialsVersion!: number;

  /** Endpoints the admin credentials were entered for (see credential-binding.ts). */
  @Column({ name: 'credentials_endpoints', type: 'text', array: true })
  credentialsEndpoints!: string[];

  @Column({ type: 'jsonb' })
  replication!: ReplicationRule[];

  @Column({ name: 'partition_handling', type: 'varchar' })
  partitionHandling!: PartitionHandling;

  @Column({ name: 'last_observation', type: 'jsonb', nullable: true })
  lastObservation!: Record<string, unknown> | null;

  @Column({ name: 'observed_at', type: 'timestamptz', nullable: true })
  observedAt!: Date | null;

  @Column({ name: 'broker_version', type: 'varchar', nullable: true })
  brokerVersion!: string | null;

  @Column({ name: 'reconcile_suspended', type: 'boolean' })
  reconcileSuspended!: boolean;

  @Column({ name: 'link_user_password_enc', type: 'text', nullable: true, select: false })
  linkUserPasswordEnc!: string | null;

  @Column({ name: 'link_user_salt', type: 'varchar', nullable: true })
  linkUserSalt!: string | null;

  @Column({ type: 'int' })
  version!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
