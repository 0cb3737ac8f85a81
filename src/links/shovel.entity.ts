import type { ShovelSettings } from '../broker-topology/link-settings';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type { ShovelSettings };

/** What the broker removed, and when, once a one-shot shovel finished (see selfDeletion). */
export interface ShovelCompletion {
  /** Why the broker removed it, in its terms. */
  reason: string;
  /** Messages moved, when known: a numeric delete-after is removed only after moving that many. */
  moved: number | null;
  /** The reconcile run that found it gone. */
  runId: string | null;
}

/** A shovel that runs once: the broker deletes it after moving its messages. */
export function isOneShot(settings: ShovelSettings | undefined): boolean {
  const d = settings?.deleteAfter;
  return d === 'queue-length' || typeof d === 'number';
}

@Entity('shovels')
export class ShovelEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ name: 'source_cluster_id', type: 'uuid' }) sourceClusterId!: string;
  @Column({ name: 'source_vhost', type: 'varchar' }) sourceVhost!: string;
  @Column({ name: 'source_queue', type: 'varchar', nullable: true }) sourceQueue!: string | null;
  @Column({ name: 'source_exchange', type: 'varchar', nullable: true }) sourceExchange!:
    string | null;
  @Column({ name: 'source_exchange_key', type: 'varchar', nullable: true }) sourceExchangeKey!:
    string | null;
  @Column({ name: 'destination_cluster_id', type: 'uuid' }) destinationClusterId!: string;
  @Column({ name: 'destination_vhost', type: 'varchar' }) destinationVhost!: string;
  @Column({ name: 'destination_queue', type: 'varchar', nullable: true }) destinationQueue!:
    string | null;
  @Column({ name: 'destination_exchange', type: 'varchar', nullable: true }) destinationExchange!:
    string | null;
  @Column({ name: 'destination_exchange_key', type: 'varchar', nullable: true })
  destinationExchangeKey!: string | null;
  @Column({ type: 'jsonb' }) settings!: ShovelSettings;
  @Column({ type: 'boolean' }) paused!: boolean;
  @Column({ name: 'deletion_policy', type: 'varchar' }) deletionPolicy!: 'delete' | 'retain';
  /** Set when the broker removed the one-shot shovel by design; cleared by a rerun. */
  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true }) completedAt!: Date | null;
  @Column({ type: 'jsonb', nullable: true }) completion!: ShovelCompletion | null;
  @Column({ type: 'int' }) generation!: number;
  @Column({ name: 'applied_generation', type: 'int', insert: false, update: false })
  appliedGeneration!: number;
  @Column({ type: 'int' }) version!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
