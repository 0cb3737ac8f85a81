import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('sites')
export class SiteEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;

  @Column({ type: 'varchar' })
  name!: string;

  @Column({ type: 'varchar' })
  region!: string;

  @Column({ type: 'text' })
  description!: string;

  @Column({ name: 'load_balancer_host', type: 'varchar', nullable: true })
  loadBalancerHost!: string | null;

  @Column({ name: 'load_balancer_port', type: 'int', nullable: true })
  loadBalancerPort!: number | null;

  @Column({ name: 'expected_rtt_ms', type: 'int' })
  expectedRttMs!: number;

  @Column({ name: 'reconcile_suspended', type: 'boolean' })
  reconcileSuspended!: boolean;

  @Column({ type: 'int' })
  version!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
