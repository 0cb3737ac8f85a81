import { isRec, type Decoded, type Rec } from './codec';
import type { VersionRequirement } from './broker-versions';

/**
 * Exchanges, queues and bindings users declare through crossdock: the models, their broker
 * values (`PUT /api/exchanges|queues/{vhost}/{name}`, `POST /api/bindings/...`), and what the
 * broker lets change. Arguments are fixed once the broker holds the object: a different type or
 * argument is a conflict, never a delete and re-create.
 */

export const queueTypes = ['classic', 'quorum', 'stream'] as const;
export type QueueType = (typeof queueTypes)[number];

export interface ExchangeModel {
  /** `direct`, `fanout`, `topic`, `headers`, or a plugin's type (`x-consistent-hash`, ...). */
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Rec;
}

export interface QueueModel {
  type: QueueType;
  durable: boolean;
  autoDelete: boolean;
  /** Without `x-queue-type`: the type is its own field. */
  arguments: Rec;
}

export interface BindingModel {
  arguments: Rec;
}

/** crossdock's defaults for what a declaration leaves out (the broker's own differ: see canonical.ts). */
export const topologyDefaults = {
  exchange: { type: 'direct', durable: true, autoDelete: false, internal: false },
  queue: { type: 'classic' as QueueType, durable: true, autoDelete: false },
  /** Queues may hold messages: deleting the resource leaves the queue on the broker. */
  deletionPolicy: 'retain',
} as const;

export function encodeExchange(m: ExchangeModel): Rec {
  return {
    type: m.type,
    durable: m.durable,
    auto_delete: m.autoDelete,
    internal: m.internal,
    arguments: m.arguments,
  };
}

export function decodeExchange(value: unknown): Decoded<ExchangeModel> {
  if (!isRec(value) || typeof value.type !== 'string')
    return { ok: false, reason: 'not an exchange: no type' };
  return {
    ok: true,
    model: {
      type: value.type,
      durable: value.durable !== false,
      autoDelete: value.auto_delete === true,
      internal: value.internal === true,
      arguments: isRec(value.arguments) ? value.arguments : {},
    },
  };
}

/** A classic queue carries no `x-queue-type` (the broker lists it without one when declared so). */
export function encodeQueue(m: QueueModel): Rec {
  const args = { ...m.arguments };
  delete args['x-queue-type'];
  if (m.type !== 'classic') args['x-queue-type'] = m.type;
  return { durable: m.durable, auto_delete: m.autoDelete, arguments: args };
}

export function decodeQueue(value: unknown): Decoded<QueueModel> {
  if (!isRec(value)) return { ok: false, reason: 'not a queue' };
  const { ['x-queue-type']: type = 'classic', ...args } = isRec(value.arguments)
    ? value.arguments
    : {};
  if (!queueTypes.includes(type as QueueType))
    return { ok: false, reason: 'x-queue-type is not classic, quorum or stream' };
  return {
    ok: true,
    model: {
      type: type as QueueType,
      durable: value.durable !== false,
      autoDelete: value.auto_delete === true,
      arguments: args,
    },
  };
}

export function encodeBinding(m: BindingModel): Rec {
  return { arguments: m.arguments };
}

export function decodeBinding(value: unknown): Decoded<BindingModel> {
  if (!isRec(value)) return { ok: false, reason: 'not a binding' };
  return { ok: true, model: { arguments: isRec(value.arguments) ? value.arguments : {} } };
}

/** Streams came with RabbitMQ 3.9. */
export function queueRequirements(type: QueueType): VersionRequirement[] {
  return type === 'stream' ? [{ key: 'x-queue-type: stream', minimum: '3.9.0' }] : [];
}

/**
 * What the broker refuses for a queue type, one sentence each: quorum queues and streams are
 * durable and never auto-deleted.
 */
export function queueTypeProblems(
  m: Pick<QueueModel, 'type' | 'durable' | 'autoDelete'>,
): string[] {
  if (m.type === 'classic') return [];
  const out: string[] = [];
  if (!m.durable) out.push(`a ${m.type} queue is always durable`);
  if (m.autoDelete) out.push(`a ${m.type} queue cannot be auto-delete`);
  return out;
}
