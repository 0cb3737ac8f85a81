import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { ClusterTls } from './cluster-tls';
import type { ReplicationRule } from './replication';

export interface Endpoint {
  host: string;
  port: number;
}

export type PartitionHandling = 'pause_minority' | 'autoheal' | 'ignore';

/**
 * Why this cluster's passes stop at the mass-delete guard: deletes that no audited registry
 * deletion, pause or completion since the last successful pass explains.
 */
export interface DeleteBlock {
  /** When passes started stopping at the guard for this set of objects. */
  since: string;
  /** The newest blocked run. */
  runId: string;
  reason: string;
  /** Deletes in the plan, and those nothing explains. */
  deletes: number;
  unexplained: number;
  /** Registry rows (`link:<id>`, `shovel:<id>`, `policy:<id>`, ...) whose broker objects would go. */
  owners: string[];
  /** The unexplained objects (the first 20). */
  objects: string[];
  /** The call that lets the pass proceed. */
  confirm: {
    method: 'POST';
    path: '/reconcile';
    body: { clusterId: string; confirmDeletes: true };
  };
}

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

  /** Set while reconcile passes stop at the mass-delete guard (see DeleteBlock). */
  @Column({ name: 'delete_blocked', type: 'jsonb', nullable: true, insert: false, update: false })
  deleteBlocked!: DeleteBlock | null;

  @Column({ name: 'reconcile_suspended', type: 'boolean' })
  reconcileSuspended!: boolean;

  @Column({ name: 'link_user_password_enc', type: 'text', nullable: true, select: false })
  linkUserPasswordEnc!: string | null;

  /** TLS settings (public material); null: the cluster is reached without TLS. */
  @Column({ type: 'jsonb', nullable: true })
  tls!: ClusterTls | null;

  /** The client certificate's private key, sealed like the admin password. */
  @Column({ name: 'tls_client_key_enc', type: 'text', nullable: true, select: false })
  tlsClientKeyEnc!: string | null;

  @Column({ name: 'link_user_salt', type: 'varchar', nullable: true })
  linkUserSalt!: string | null;

  @Column({ type: 'int' })
  version!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
