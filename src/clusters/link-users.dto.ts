import { ApiProperty } from '@nestjs/swagger';

export class ClusterRefView {
  @ApiProperty() clusterId!: string;
  @ApiProperty() name!: string;
}

export class LinkUserRotationView {
  @ApiProperty() id!: string;
  @ApiProperty({
    enum: ['verifying', 'switching', 'completed'],
    description:
      'verifying: the new user is being written and proven with an AMQP login; switching: URIs use the new user, the previous one stays until every connecting cluster applied them; completed: the previous user is deleted',
  })
  status!: 'verifying' | 'switching' | 'completed';
  @ApiProperty() fromUsername!: string;
  @ApiProperty() toUsername!: string;
  @ApiProperty({ description: 'Verification attempts so far' }) attempts!: number;
  @ApiProperty({ nullable: true, type: String, description: 'Why the last verification failed' })
  lastError!: string | null;
  @ApiProperty({ nullable: true, type: String }) requestedBy!: string | null;
  @ApiProperty() startedAt!: string;
  @ApiProperty({ nullable: true, type: String }) verifiedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) switchedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) completedAt!: string | null;
  @ApiProperty({
    type: [ClusterRefView],
    description: 'Connecting clusters whose pass applied URIs with the new user',
  })
  appliedBy!: ClusterRefView[];
  @ApiProperty({
    type: [ClusterRefView],
    description: 'Connecting clusters the previous user is kept for',
  })
  waitingFor!: ClusterRefView[];
}

/** Who other clusters log in as, and the latest rotation. Never carries a password. */
export class LinkUserView {
  @ApiProperty() clusterId!: string;
  @ApiProperty({ description: 'The user in the URIs of other clusters now' }) username!: string;
  @ApiProperty({ type: [String], description: 'Vhosts other clusters connect to' })
  vhosts!: string[];
  @ApiProperty({ type: [ClusterRefView] }) connectingClusters!: ClusterRefView[];
  @ApiProperty({ type: LinkUserRotationView, nullable: true })
  rotation!: LinkUserRotationView | null;
}
