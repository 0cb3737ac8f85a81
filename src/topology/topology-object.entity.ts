import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type TopologyKind = 'exchange' | 'queue' | 'binding';
export type DeletionPolicy = 'retain' | 'delete';

/**
 * An exchange, queue or binding declared through crossdock on one cluster and vhost.
 * `definition` is the kind's model (ExchangeModel, QueueModel, BindingDefinition); `name` is the
 * broker's ObjectKey name (a binding's is built from its source, destination and routing key).
 */
@Entity('topology_objects')
export class TopologyObjectEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'bigint', insert: false, update: false }) seq!: string;
  @Column({ name: 'cluster_id', type: 'uuid' }) clusterId!: string;
  @Column({ type: 'varchar' }) kind!: TopologyKind;
  @Column({ type: 'varchar' }) vhost!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'jsonb' }) definition!: Record<string, unknown>;
  @Column({ name: 'deletion_policy', type: 'varchar' }) deletionPolicy!: DeletionPolicy;
  @Column({ type: 'int' }) version!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
