import type { ShovelCompletion } from '../links/shovel.entity';
import type { DeleteBlock } from '../clusters/cluster.entity';
import type { HealthState } from '../probes/link-health';
import type { AlarmFact, BrokerLinkState, LinkCause } from '../probes/link-verdict';

/** The data-plane verdict (the health endpoint's), next to the broker's view. */
export interface DataPlaneView {
  state: HealthState | 'completed';
  /** The health reasons' codes, most recent evaluation. */
  reasons: string[];
  evaluatedAt: string | null;
}

export interface LinkStatus {
  id: string;
  name: string;
  generation: number;
  appliedGeneration: number;
  paused: boolean;
  /** How many broker links the registry implies, and how many the broker lists. */
  expectedLinks: number;
  observedLinks: number;
  broker: {
    node?: string;
    object: string;
    status: string;
    error?: string;
    timestamp?: string;
    /** The classified cause of a broker link that does not run. */
    cause?: LinkCause;
  }[];
  /** The broker's own state of the link (the shared verdict model, as health's `brokerState`). */
  brokerState?: BrokerLinkState;
  /**
   * Why the link does not run, or runs without moving data, classified: from the broker's
   * status, a node's resource alarm, or a check with the link user's credentials.
   */
  cause?: LinkCause;
  /** Resource alarms on the link's two clusters. */
  alarms?: AlarmFact[];
  /** The data-plane verdict of the health endpoint. */
  dataPlane?: DataPlaneView;
  /** Why `brokerState` and `dataPlane.state` differ; absent when they agree. */
  divergence?: string;
  /** Set when the broker could not be asked (or answered something unusable). */
  unavailable?: string;
  /** The typed reason: `unreachable`, `timeout`, `server`, `protocol/<problem>`, ... */
  unavailableKind?: string;
  /**
   * What the link needs and does not find (a missing queue or exchange on either end, a
   * permission the link user lacks), from a cached preflight: `blocked: destination queue "x"
   * missing on dc2/rabbit`. Gone as soon as the object exists.
   */
  blocked?: string;
  /** Why the reconciler does not apply the link: keys the cluster's RabbitMQ version does not know. */
  heldBack?: string;
  /** A one-shot shovel the broker removed once done (`completed`): when, and what it moved. */
  completedAt?: string;
  completion?: ShovelCompletion;
  /**
   * Passes stop at the mass-delete guard before removing this link's broker objects: why, and
   * the call that lets them proceed (`delete-blocked`).
   */
  deleteBlocked?: {
    clusterId: string;
    since: string;
    reason: string;
    runId: string;
    confirm: DeleteBlock['confirm'];
  };
  verdict:
    | 'running'
    | 'partial'
    | 'down'
    | 'paused'
    | 'not-applied'
    | 'held-back'
    | 'completed'
    | 'delete-blocked'
    | 'blocked'
    | 'unknown';
}

/** A link row that is gone from the registry while its broker objects stay. */
export function goneStatus(id: string): LinkStatus {
  return {
    id,
    name: '(not in the registry)',
    generation: 0,
    appliedGeneration: 0,
    paused: false,
    expectedLinks: 0,
    observedLinks: 0,
    broker: [],
    verdict: 'unknown',
  };
}

/** The registry's side of a link's status (a `federation_links` or `shovels` row). */
export function registryStatus(row: Record<string, unknown>): LinkStatus {
  return {
    id: row.id as string,
    name: row.name as string,
    generation: row.generation as number,
    appliedGeneration: row.applied_generation as number,
    paused: row.paused as boolean,
    expectedLinks: 0,
    observedLinks: 0,
    broker: [],
    verdict: 'unknown',
  };
}

/** The verdict from the broker links the broker lists, against how many the registry implies. */
export function brokerVerdict(
  base: LinkStatus,
  expected: number,
  broker: LinkStatus['broker'],
): LinkStatus['verdict'] {
  if (base.appliedGeneration < base.generation) return 'not-applied';
  const running = broker.filter((b) => b.status === 'running').length;
  if (expected > 0 && running >= expected) return 'running';
  if (running > 0) return 'partial';
  return 'down';
}
