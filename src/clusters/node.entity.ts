import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type NodeType = 'disc' | 'ram';

@Entity('nodes')
export class NodeEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;

  @Column({ name: 'cluster_id', type: 'uuid' })
  clusterId!: string;

  @Column({ type: 'varchar' })
  name!: string;

  @Column({ type: 'varchar' })
  host!: string;

  @Column({ name: 'amqp_port', type: 'int' })
  amqpPort!: number;

  @Column({ name: 'management_port', type: 'int' })
  managementPort!: number;

  @Column({ type: 'varchar' })
  type!: NodeType;

  @Column({ type: 'int' })
  version!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
