import { isBuiltinExchange } from '../broker-topology/broker-paths';
import {
  queueTypeProblems,
  topologyDefaults,
  type ExchangeModel,
  type QueueModel,
} from '../broker-topology/topology.codec';
import type { FieldError } from '../common/errors/domain.exception';

/** Bounds of a declaration's arguments: they travel in every pass's plan and in the audit trail. */
export const argumentLimits = { keys: 32, keyLength: 255, stringLength: 1024, jsonLength: 4096 };

/** Pure: what is wrong with an `arguments` object, one field error each. */
export function argumentProblems(
  args: Record<string, unknown>,
  field = 'arguments',
  reserved: readonly string[] = [],
): FieldError[] {
  const out: FieldError[] = [];
  const keys = Object.keys(args);
  if (keys.length > argumentLimits.keys)
    out.push({ field, message: `at most ${argumentLimits.keys} arguments` });
  if (JSON.stringify(args).length > argumentLimits.jsonLength)
    out.push({ field, message: `at most ${argumentLimits.jsonLength} characters of JSON` });
  for (const k of keys) {
    const v = args[k];
    const at = `${field}.${k.slice(0, 64)}`;
    // eslint-disable-next-line no-control-regex -- control characters in a key are refused
    if (k === '' || k.length > argumentLimits.keyLength || /[\u0000-\u001f\u007f]/.test(k))
      out.push({ field: at, message: 'an argument name is 1 to 255 printable characters' });
    else if (reserved.includes(k))
      out.push({ field: at, message: `${k} is set through its own field` });
    else if (!argumentValueOk(v, 0))
      out.push({
        field: at,
        message: `must be a string (up to ${argumentLimits.stringLength} characters), a finite number, a boolean, or a list or table of those`,
      });
  }
  return out;
}

function argumentValueOk(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return v.length <= argumentLimits.stringLength;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v === 'boolean') return true;
  if (depth >= 2 || v === null || typeof v !== 'object') return false;
  return Array.isArray(v)
    ? v.every((x) => argumentValueOk(x, depth + 1))
    : Object.values(v).every((x) => argumentValueOk(x, depth + 1));
}

/** Names the broker reserves (`amq.*`) or that exceed its 255-byte limit. */
export function nameProblems(name: string, field: string, what: string): FieldError[] {
  if (Buffer.byteLength(name, 'utf8') > 255)
    return [{ field, message: `a ${what} name is at most 255 bytes` }];
  if (isBuiltinExchange(name))
    return [{ field, message: `${what} names starting with amq. are reserved by the broker` }];
  return [];
}

/** An exchange declaration with crossdock's defaults filled in. */
export function exchangeModel(x: Partial<ExchangeModel>): ExchangeModel {
  const d = topologyDefaults.exchange;
  return {
    type: x.type ?? d.type,
    durable: x.durable ?? d.durable,
    autoDelete: x.autoDelete ?? d.autoDelete,
    internal: x.internal ?? d.internal,
    arguments: x.arguments ?? {},
  };
}

/** A queue declaration with crossdock's defaults filled in. */
export function queueModel(q: Partial<QueueModel>): QueueModel {
  const d = topologyDefaults.queue;
  return {
    type: q.type ?? d.type,
    durable: q.durable ?? d.durable,
    autoDelete: q.autoDelete ?? d.autoDelete,
    arguments: q.arguments ?? {},
  };
}

/** What is wrong with a queue declaration (type rules, arguments). */
export function queueErrors(model: QueueModel): FieldError[] {
  return [
    ...queueTypeProblems(model).map((message) => ({ field: 'type', message })),
    ...argumentProblems(model.arguments, 'arguments', ['x-queue-type']),
  ];
}
