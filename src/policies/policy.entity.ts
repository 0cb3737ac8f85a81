import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { PolicyApplyTo } from '../broker-topology/broker-versions';

export type PolicyScope = 'cluster' | 'site' | 'global';

@Entity('policies')
export class PolicyEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ type: 'varchar' }) scope!: PolicyScope;
  @Column({ name: 'cluster_id', type: 'uuid', nullable: true }) clusterId!: string | null;
  @Column({ name: 'site_id', type: 'uuid', nullable: true }) siteId!: string | null;
  @Column({ type: 'varchar' }) vhost!: string;
  @Column({ type: 'varchar' }) pattern!: string;
  @Column({ name: 'apply_to', type: 'varchar' }) applyTo!: PolicyApplyTo;
  @Column({ type: 'int' }) priority!: number;
  @Column({ type: 'jsonb' }) definition!: Record<string, unknown>;
  @Column({ type: 'int' }) version!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
