import { parseShovels, type ShovelStatus } from '../broker-topology/broker-facts';
import { managementPaths } from '../broker-topology/broker-paths';
import type { ManagementClient } from '../broker/management-client';
import { BrokerNotFoundError } from '../broker/management.errors';
import { managedPrefix } from '../reconciliation/broker-state';
import type { SpillAcks } from './spill-batch';

/** The broker name of a rule's spill shovel. */
export const spillShovelName = (rule: string) => `${managedPrefix}ov.${rule}`;
/** The ledger owner of a rule's spill shovel. */
export const overflowOwner = (ruleId: string) => `overflow:${ruleId}`;
/** Consumer priority of the spill shovel (local consumers default to 0). */
export const spillPriority = -1;

/**
 * Whether the spill shovel exists on the broker; when the broker cannot say (an error other
 * than not found), `assumed` (what the engine last knew).
 */
export async function spillShovelPresent(
  client: ManagementClient,
  vhost: string,
  name: string,
  assumed: boolean,
): Promise<boolean> {
  try {
    await client.get(managementPaths.shovel(vhost, name));
    return true;
  } catch (err) {
    return err instanceof BrokerNotFoundError ? false : assumed;
  }
}

/**
 * Messages the spill shovel has acked at the source: its consumer is the one at priority -1 on
 * a direct (user "none") connection; its channel's ack counter is broker statistics (5 s).
 * Null when there is no such consumer or the broker cannot say.
 */
export async function spillAcked(
  client: ManagementClient,
  vhost: string,
  queue: string,
): Promise<SpillAcks | null> {
  try {
    const q = await client.get<{
      consumer_details?: {
        arguments?: Record<string, unknown>;
        channel_details?: { name?: string; user?: string };
      }[];
    }>(managementPaths.queue(vhost, queue), {
      query: { columns: 'consumer_details' },
    });
    const spill = (q.consumer_details ?? []).find(
      (c) => c.arguments?.['x-priority'] === spillPriority && c.channel_details?.user === 'none',
    );
    const channel = spill?.channel_details?.name;
    if (!channel) return null;
    const ch = await client.get<{ message_stats?: { ack?: number } }>(
      managementPaths.channel(channel),
      {
        query: { columns: 'message_stats' },
      },
    );
    return { channel, ack: typeof ch.message_stats?.ack === 'number' ? ch.message_stats.ack : 0 };
  } catch {
    return null;
  }
}

/** The broker's status of the spill shovel; undefined: not listed; null: not readable. */
export async function spillShovelStatus(
  client: ManagementClient,
  vhost: string,
  name: string,
): Promise<ShovelStatus | undefined | null> {
  try {
    const parsed = parseShovels(await client.get<unknown>(managementPaths.shovels(vhost)));
    return parsed.ok ? parsed.value.find((x) => x.name === name) : null;
  } catch {
    return null;
  }
}
