import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { OverflowState } from './overflow-decide';

export interface OverflowBatch {
  /** src-delete-after of the current spill shovel. */
  budget: number;
  startedAt: string;
  /**
   * Messages the spill shovel acked at the source (= confirmed remotely) in this batch, summed
   * over the channels it used (a restarted shovel opens a new channel, counting from 0).
   */
  acked: number;
  /** When `acked` last grew (ISO time). */
  ackedChangedAt: string;
  /** The spill's source channel and its ack counter at the last read (broker statistics). */
  channel?: string;
  channelAcked?: number;
  /** What the broker last reported about a spill that stopped moving (kept until it moves). */
  failure?: { reason: string; since: string };
}

@Entity('overflow_rules')
export class OverflowRuleEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ name: 'cluster_id', type: 'uuid' }) clusterId!: string;
  @Column({ type: 'varchar' }) vhost!: string;
  @Column({ type: 'varchar' }) queue!: string;
  @Column({ name: 'remote_cluster_id', type: 'uuid' }) remoteClusterId!: string;
  @Column({ name: 'remote_vhost', type: 'varchar' }) remoteVhost!: string;
  @Column({ name: 'remote_queue', type: 'varchar', nullable: true }) remoteQueue!: string | null;
  @Column({ name: 'remote_exchange', type: 'varchar', nullable: true }) remoteExchange!:
    string | null;
  @Column({ name: 'remote_routing_key', type: 'varchar', nullable: true })
  remoteRoutingKey!: string | null;
  @Column({ name: 'high_watermark', type: 'int' }) highWatermark!: number;
  @Column({ name: 'low_watermark', type: 'int' }) lowWatermark!: number;
  @Column({ name: 'min_hold_ms', type: 'int' }) minHoldMs!: number;
  @Column({ name: 'remote_max_depth', type: 'int', nullable: true }) remoteMaxDepth!: number | null;
  @Column({ type: 'int' }) prefetch!: number;
  @Column({ name: 'batch_limit', type: 'int' }) batchLimit!: number;
  @Column({ type: 'boolean' }) enabled!: boolean;
  @Column({ type: 'varchar' }) state!: OverflowState;
  @Column({ name: 'state_reason', type: 'text' }) stateReason!: string;
  @Column({ name: 'state_since', type: 'timestamptz' }) stateSince!: Date;
  @Column({ type: 'jsonb', nullable: true }) batch!: OverflowBatch | null;
  @Column({ type: 'bigint' }) diverted!: string;
  @Column({ type: 'int' }) activations!: number;
  @Column({ name: 'last_depth', type: 'int', nullable: true }) lastDepth!: number | null;
  @Column({ name: 'last_evaluated_at', type: 'timestamptz', nullable: true })
  lastEvaluatedAt!: Date | null;
  @Column({ type: 'int' }) version!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
