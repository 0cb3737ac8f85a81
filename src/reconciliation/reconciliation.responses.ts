import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { DeleteBlockConfirmView } from '../clusters/clusters.dto';
import {
  BrokerLinkStatusView,
  LinkCauseView,
  ShovelCompletionView,
} from '../links/links.responses';
import type { BrokerLinkRestart, LinkRestartView } from './link-restart.service';
import type { DataPlaneView, LinkStatus } from './link-status';
import { brokerLinkStates } from '../probes/probes.responses';
import type { AlarmFact, BrokerLinkState } from '../probes/link-verdict';
import type { RunStatus, RunTrigger, RunView } from './reconciler.service';

const runTriggers: RunTrigger[] = ['change', 'follow-up', 'schedule', 'manual', 'dry-run'];
const runStatuses: RunStatus[] = [
  'running',
  'succeeded',
  'failed',
  'blocked',
  'suspended',
  'planned',
  'busy',
];

/** A free-form JSON object (plan operations and findings carry broker payloads). */
const freeForm = { type: 'object', additionalProperties: true } as const;

@ApiSchema({ name: 'RunView' })
export class RunViewDto implements RunView {
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uuid',
    description: 'Null for a plan that was not recorded',
  })
  id!: string | null;
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ enum: runTriggers }) trigger!: RunTrigger;
  @ApiProperty({ description: 'The replica that ran the pass' }) instanceId!: string;
  @ApiProperty() dryRun!: boolean;
  @ApiProperty({
    enum: runStatuses,
    description:
      'blocked: stopped at the mass-delete guard; busy: another pass held the cluster; planned: a dry run',
  })
  status!: RunStatus;
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) finishedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  applyStartedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  applyFinishedAt!: string | null;
  @ApiProperty({
    ...freeForm,
    description: 'Counts of the plan: creates, updates, deletes, unchanged, applied, failed',
    example: { create: 2, update: 0, delete: 0, unchanged: 14 },
  })
  summary!: Record<string, unknown>;
  @ApiProperty({
    type: 'array',
    items: freeForm,
    description: 'The plan: one create/update/delete per broker object, with field-level changes',
  })
  operations!: unknown[];
  @ApiProperty({
    type: 'array',
    items: freeForm,
    description: 'What the pass noticed without acting on it (drift, unmanaged objects)',
  })
  findings!: unknown[];
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
}

export class ReconcileResultView {
  @ApiProperty({ type: [RunViewDto], description: 'One run per cluster, in registry order' })
  runs!: RunViewDto[];
}

export class SuspensionView {
  @ApiProperty({ description: 'Whether passes are now suspended' }) suspended!: boolean;
}

export class LinkDeleteBlockedView {
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty({ format: 'date-time' }) since!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ format: 'uuid' }) runId!: string;
  @ApiProperty({ type: DeleteBlockConfirmView }) confirm!: DeleteBlockConfirmView;
}

export class LinkAlarmView implements AlarmFact {
  @ApiProperty({ enum: ['upstream', 'downstream', 'source', 'destination'] })
  side!: AlarmFact['side'];
  @ApiProperty() cluster!: string;
  @ApiProperty() node!: string;
  @ApiProperty({ example: 'memory' }) alarm!: string;
}

export class DataPlaneViewDto implements DataPlaneView {
  @ApiProperty({ enum: ['healthy', 'degraded', 'down', 'unknown', 'completed'] })
  state!: DataPlaneView['state'];
  @ApiProperty({ type: [String], description: 'The health reasons by code' }) reasons!: string[];
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) evaluatedAt!: string | null;
}

const verdicts: LinkStatus['verdict'][] = [
  'running',
  'partial',
  'down',
  'paused',
  'not-applied',
  'held-back',
  'completed',
  'delete-blocked',
  'blocked',
  'unknown',
];

@ApiSchema({ name: 'LinkStatus' })
export class LinkStatusDto implements LinkStatus {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() generation!: number;
  @ApiProperty() appliedGeneration!: number;
  @ApiProperty() paused!: boolean;
  @ApiProperty({ description: 'Broker links the registry implies' }) expectedLinks!: number;
  @ApiProperty({ description: 'Broker links the broker lists' }) observedLinks!: number;
  @ApiProperty({ type: [BrokerLinkStatusView] }) broker!: BrokerLinkStatusView[];
  @ApiPropertyOptional({ description: 'Why the broker could not be asked' }) unavailable?: string;
  @ApiPropertyOptional({ example: 'unreachable' }) unavailableKind?: string;
  @ApiPropertyOptional({
    description: "Keys the cluster's RabbitMQ version does not know (the link is not applied)",
  })
  heldBack?: string;
  @ApiPropertyOptional({
    example: 'blocked: destination queue "orders" missing on dc2/rabbit',
    description:
      'What the link needs and does not find (a queue or exchange on either end, a link-user permission), from a cached preflight; gone once it exists. The verdict is `blocked` while the broker does not run the link.',
  })
  blocked?: string;
  @ApiPropertyOptional({ format: 'date-time' }) completedAt?: string;
  @ApiPropertyOptional({ type: ShovelCompletionView }) completion?: ShovelCompletionView;
  @ApiPropertyOptional({ type: LinkDeleteBlockedView }) deleteBlocked?: LinkDeleteBlockedView;
  @ApiProperty({ enum: verdicts, description: 'One word for the link as the broker runs it' })
  verdict!: LinkStatus['verdict'];
  @ApiPropertyOptional({
    enum: brokerLinkStates,
    description:
      "The broker's own state of the link, in the verdict model shared with the health endpoint (its `brokerState`)",
  })
  brokerState?: BrokerLinkState;
  @ApiPropertyOptional({
    type: LinkCauseView,
    description:
      "Why the link does not run, or runs without moving data: the broker's error classified, a resource alarm, or what a check with the link user's credentials found",
  })
  cause?: LinkCauseView;
  @ApiPropertyOptional({
    type: [LinkAlarmView],
    description: "Resource alarms on the link's clusters",
  })
  alarms?: LinkAlarmView[];
  @ApiPropertyOptional({ type: DataPlaneViewDto, description: 'The health endpoint verdict' })
  dataPlane?: DataPlaneViewDto;
  @ApiPropertyOptional({
    description:
      "Why `brokerState` and `dataPlane.state` differ (an alarm, the broker's connection error, ...); absent when they agree",
  })
  divergence?: string;
}

export class BrokerLinkRestartView implements BrokerLinkRestart {
  @ApiProperty({ description: 'The node running the broker link' }) node!: string;
  @ApiProperty() object!: string;
  @ApiPropertyOptional() brokerLinkId?: string;
  @ApiProperty() restarted!: boolean;
  @ApiPropertyOptional({ description: 'Why the broker refused or could not be asked' })
  error?: string;
}

@ApiSchema({ name: 'LinkRestartView' })
export class LinkRestartViewDto implements LinkRestartView {
  @ApiProperty({ format: 'uuid' }) linkId!: string;
  @ApiProperty({ enum: ['federation', 'shovel'] }) kind!: 'federation' | 'shovel';
  @ApiProperty() name!: string;
  @ApiProperty({ format: 'uuid', description: 'The cluster whose broker runs the link' })
  clusterId!: string;
  @ApiProperty() vhost!: string;
  @ApiProperty({ type: [BrokerLinkRestartView] }) brokerLinks!: BrokerLinkRestartView[];
}
