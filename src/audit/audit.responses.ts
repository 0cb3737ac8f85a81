import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { roles, type Role } from '../common/actor/actor';
import type { AuditHead } from './audit-query.service';
import type { AuditProtection, VerifyResult } from './audit-verifier';

const anyJson = {
  type: 'object',
  additionalProperties: true,
  nullable: true,
} as const;

export class ActorView {
  @ApiProperty({ enum: ['token', 'system'], description: 'An API token, or the service itself' })
  kind!: 'token' | 'system';
  @ApiPropertyOptional({ type: String, nullable: true, format: 'uuid' }) tokenId?: string | null;
  @ApiProperty({ example: 'ci-pipeline', description: 'Token name, or reconciler, probes, ...' })
  name!: string;
  @ApiPropertyOptional({ enum: roles }) role?: Role;
}

export class AuditResourceView {
  @ApiProperty({ example: 'federation-link' }) type!: string;
  @ApiProperty({ type: String, nullable: true }) id!: string | null;
  @ApiProperty({ type: String, nullable: true }) name!: string | null;
}

export class FieldChangeView {
  @ApiProperty({ example: 'settings.prefetchCount' }) path!: string;
  @ApiPropertyOptional({ ...anyJson, description: 'Absent when the field was added' })
  before?: unknown;
  @ApiPropertyOptional({ ...anyJson, description: 'Absent when the field was removed' })
  after?: unknown;
}

@ApiSchema({ name: 'AuditEventView' })
export class AuditEventViewDto {
  @ApiProperty({ example: '1042', description: 'Position in the chain (a decimal string)' })
  seq!: string;
  @ApiProperty({ format: 'date-time' }) occurredAt!: string;
  @ApiProperty({ type: ActorView }) actor!: ActorView;
  @ApiProperty({ example: 'federation-link.create' }) action!: string;
  @ApiProperty({ type: AuditResourceView }) resource!: AuditResourceView;
  @ApiProperty({ type: [String] }) siteIds!: string[];
  @ApiProperty({ type: [String] }) clusterIds!: string[];
  @ApiProperty({ type: String, nullable: true }) requestId!: string | null;
  @ApiPropertyOptional({ description: "The caller's X-Request-Id, when one was sent" })
  clientRequestId?: string;
  @ApiProperty({ type: String, nullable: true, description: 'The X-Reason header, when sent' })
  reason!: string | null;
  @ApiProperty({ ...anyJson, description: 'The resource before the change (secrets omitted)' })
  before!: unknown;
  @ApiProperty({ ...anyJson, description: 'The resource after the change (secrets omitted)' })
  after!: unknown;
  @ApiProperty({ type: [FieldChangeView] }) diff!: FieldChangeView[];
  @ApiProperty({ ...anyJson, description: 'Broker operations: the operation and its outcome' })
  details!: unknown;
  @ApiProperty({ description: 'SHA-256 of this event chained to the previous one' })
  hash!: string;
  @ApiProperty() prevHash!: string;
}

export class AuditCheckpointView {
  @ApiProperty() seq!: string;
  @ApiProperty() hash!: string;
  @ApiProperty({ description: 'HMAC of seq and hash with the checkpoint key' }) signature!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

@ApiSchema({ name: 'AuditHead' })
export class AuditHeadDto implements AuditHead {
  @ApiProperty({ description: 'The newest event' }) seq!: string;
  @ApiProperty() hash!: string;
  @ApiProperty({ type: AuditCheckpointView, nullable: true, description: 'The newest checkpoint' })
  checkpoint!: AuditCheckpointView | null;
}

export class AuditBrokenView {
  @ApiProperty() seq!: string;
  @ApiProperty() reason!: string;
}

export class AuditTruncatedView {
  @ApiProperty() anchoredSeq!: string;
  @ApiProperty({ type: String, nullable: true }) lastSeq!: string | null;
  @ApiProperty({ enum: ['checkpoint', 'external', 'external-sink'] })
  source!: 'checkpoint' | 'external' | 'external-sink';
}

export class AuditExternalHeadView {
  @ApiProperty() seq!: string;
  @ApiProperty() hash!: string;
  @ApiProperty({ format: 'date-time' }) at!: string;
}

export class AuditProtectionView implements AuditProtection {
  @ApiProperty({ description: 'The append-only triggers exist and are enabled' })
  triggersArmed!: boolean;
  @ApiProperty({ description: "The service's database role could change or remove audit rows" })
  serviceRoleCanModify!: boolean;
  @ApiProperty({ enum: ['not-configured', 'empty', 'ok', 'unreadable'] })
  externalSink!: AuditProtection['externalSink'];
  @ApiPropertyOptional({ type: AuditExternalHeadView }) externalHead?: AuditExternalHeadView;
}

@ApiSchema({ name: 'VerifyResult' })
export class VerifyResultDto implements VerifyResult {
  @ApiProperty({ description: 'The chain holds and nothing makes the result untrustworthy' })
  ok!: boolean;
  @ApiProperty() checkedEvents!: number;
  @ApiProperty({ type: String, nullable: true }) firstSeq!: string | null;
  @ApiProperty({ type: String, nullable: true }) lastSeq!: string | null;
  @ApiProperty() headHash!: string;
  @ApiPropertyOptional({ type: AuditBrokenView, description: 'The first link that does not hold' })
  broken?: AuditBrokenView;
  @ApiPropertyOptional({
    type: AuditTruncatedView,
    description: 'Events missing at the end compared with an anchored head',
  })
  truncated?: AuditTruncatedView;
  @ApiProperty() checkpointsChecked!: number;
  @ApiPropertyOptional({ type: AuditProtectionView }) protection?: AuditProtectionView;
  @ApiPropertyOptional({ type: [String] }) problems?: string[];
  @ApiPropertyOptional({ type: [String] }) warnings?: string[];
}
