/**
 * A two-way codec of one broker object kind: `encode` turns crossdock's model of the object into
 * the value the management API stores (the body of a PUT, the `value` of a runtime parameter);
 * `decode` reads such a value back (an observation, a definitions import) into the model, or says
 * why it cannot. `decode(encode(m))` gives `m` back with crossdock's defaults filled in.
 */
export type Decoded<M> = { ok: true; model: M } | { ok: false; reason: string };

export interface BrokerObjectCodec<M, V = Record<string, unknown>> {
  encode(model: M): V;
  decode(value: unknown): Decoded<M>;
}

export type Rec = Record<string, unknown>;

export const isRec = (v: unknown): v is Rec =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const intIn = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** A `uri` member: a single string or a pool of them; anything else reads as no URI. */
export function uriList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((u): u is string => typeof u === 'string')) return [...v];
  return [];
}

export const ackModes = ['on-confirm', 'on-publish', 'no-ack'] as const;
export type AckMode = (typeof ackModes)[number];
export const isAckMode = (v: unknown): v is AckMode => ackModes.includes(v as AckMode);
