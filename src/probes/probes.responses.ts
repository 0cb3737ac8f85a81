import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { LinkCauseView } from '../links/links.responses';
import type { CompletedReason, LinkHealthView, LinkKind } from './health.service';
import type { HealthReason, HealthState, HealthThresholds } from './link-health';
import type { BrokerLinkState } from './link-verdict';

export const brokerLinkStates: BrokerLinkState[] = [
  'running',
  'partial',
  'down',
  'missing',
  'unknown',
];

const states = ['healthy', 'degraded', 'down', 'unknown'];
const reasonCodes: (HealthReason['code'] | CompletedReason['code'])[] = [
  'paused',
  'no-probe-data',
  'probe-overdue',
  'lag',
  'missing',
  'no-targets',
  'broker-link-not-running',
  'alarm',
  'backlog-growing',
  'no-consumer',
  'cluster-unreachable',
  'certificate-verification-failed',
  'certificate-expiring',
  'certificate-expired',
  'completed',
];

export class HealthReasonView {
  @ApiProperty({ enum: reasonCodes }) code!: HealthReason['code'] | CompletedReason['code'];
  @ApiProperty({ enum: ['degraded', 'down', 'unknown', 'completed'] })
  state!: Exclude<HealthState, 'healthy'> | 'completed';
  @ApiProperty({ example: 'probe lag p95 412 ms is above 250 ms' }) detail!: string;
  @ApiPropertyOptional({ type: LinkCauseView, description: 'The classified cause, when known' })
  cause?: LinkCauseView;
}

export class HealthThresholdsView implements HealthThresholds {
  @ApiProperty({ description: 'Probe lag p95 above this (ms): degraded' }) lagDegradedMs!: number;
  @ApiProperty({ description: 'A probe not received within this (ms) is lost: down' })
  downAfterMs!: number;
  @ApiProperty({ description: 'A growing backlog of at least this many messages: degraded' })
  backlogDegradedMessages!: number;
}

@ApiSchema({ name: 'LinkHealthView' })
export class LinkHealthViewDto implements LinkHealthView {
  @ApiProperty({ format: 'uuid' }) linkId!: string;
  @ApiProperty({ enum: ['federation', 'shovel'] }) kind!: LinkKind;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: [...states, 'completed'] }) state!: HealthState | 'completed';
  @ApiProperty({ type: [HealthReasonView], description: 'Why the state is not healthy' })
  reasons!: (HealthReason | CompletedReason)[];
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The measurements the verdict used (lag percentiles, loss, backlog, alarms)',
    example: { lagP95Ms: 38, lost: 0, backlog: 0 },
  })
  values!: Record<string, unknown>;
  @ApiProperty({ type: HealthThresholdsView }) thresholds!: HealthThresholdsView;
  @ApiProperty({ type: String, nullable: true, example: 'federation:<cluster id>:<cluster id>' })
  pathId!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'date-time',
    description: 'In this state since',
  })
  since!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) evaluatedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The replica that evaluated it' })
  evaluatedBy!: string | null;
  @ApiProperty({
    enum: brokerLinkStates,
    nullable: true,
    description:
      "The broker's own state of the link at the last evaluation (the status endpoint's view); null when not current",
  })
  brokerState!: BrokerLinkState | null;
  @ApiProperty({
    type: LinkCauseView,
    nullable: true,
    description:
      'Why the link does not run or does not move data, classified; the same model as the status endpoint',
  })
  cause!: LinkCauseView | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Why `brokerState` and `state` differ (for example the broker says running while a memory alarm blocks the destination); null when they agree',
  })
  divergence!: string | null;
}

export class SiteHealthView {
  @ApiProperty({ format: 'uuid' }) siteId!: string;
  @ApiProperty({ enum: states, description: 'The worst state among the links' })
  state!: HealthState;
  @ApiProperty({
    type: [LinkHealthViewDto],
    description: "Every link touching the site's clusters",
  })
  links!: LinkHealthViewDto[];
}

export class ProbePathMinuteView {
  @ApiProperty() samples!: number;
  @ApiProperty() lost!: number;
  @ApiProperty({ type: Number, nullable: true }) lagP50Ms!: number | null;
  @ApiProperty({ type: Number, nullable: true }) lagP95Ms!: number | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) lastSampleAt!: string | null;
}

export class ProbePathView {
  @ApiProperty({ example: 'federation:<cluster id>:<cluster id>' }) id!: string;
  @ApiProperty({ enum: ['federation', 'shovel'] }) kind!: string;
  @ApiProperty({ format: 'uuid' }) fromClusterId!: string;
  @ApiProperty({ format: 'uuid' }) toClusterId!: string;
  @ApiProperty({ type: [String], description: 'The links whose health is judged from this path' })
  linkIds!: string[];
  @ApiProperty({ type: ProbePathMinuteView }) lastMinute!: ProbePathMinuteView;
}

export class ProbeSampleView {
  @ApiProperty({ format: 'date-time', description: 'Sample time, or bucket start' }) at!: string;
  @ApiProperty({ required: false, description: 'Raw samples: the probe sequence number' })
  seq?: number;
  @ApiProperty({ type: Number, nullable: true, required: false, description: 'Raw samples' })
  lagMs?: number | null;
  @ApiProperty({ required: false, description: 'Buckets: samples in the bucket' })
  samples?: number;
  @ApiProperty({
    required: false,
    description: 'Raw samples: true when the probe was lost; buckets: how many were lost',
    oneOf: [{ type: 'boolean' }, { type: 'integer' }],
  })
  lost?: boolean | number;
  @ApiProperty({ type: Number, nullable: true, required: false }) lagP50Ms?: number | null;
  @ApiProperty({ type: Number, nullable: true, required: false }) lagP95Ms?: number | null;
  @ApiProperty({ type: Number, nullable: true, required: false }) lagMaxMs?: number | null;
}

export class ProbeSamplesView {
  @ApiProperty() pathId!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'Bucket width in seconds; null: raw' })
  step!: number | null;
  @ApiProperty({ type: [ProbeSampleView] }) points!: ProbeSampleView[];
}
