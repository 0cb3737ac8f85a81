import {
  BrokerError,
  BrokerNotFoundError,
  BrokerProtocolError,
  BrokerServerError,
  BrokerTimeoutError,
  BrokerUnreachableError,
} from '../broker/management.errors';
import type { HttpMethod, ManagementResponse } from '../broker/management.types';
import { redactString } from '../common/logging/redact';
import type { BrokerValue, ObjectKey, PlanOp } from './broker-state';
import {
  bindingCollectionPath,
  bindingPath,
  objectPath,
  parseBindingName,
  writeRequest,
  type BrokerClient,
} from '../broker-topology/broker-paths';
import { canonicalText } from './canonical';

export interface OpOutcome {
  ok: boolean;
  /** Redacted: method, path, node and the broker's reason. */
  error?: string;
  errorKind?: BrokerError['kind'] | 'hook' | 'skipped' | 'unsupported' | 'internal';
  /** The broker's HTTP status, when it answered one. */
  status?: number;
  /** Management node that answered last. */
  node?: string;
  /** Requests tried for this op, retries included. */
  attempts: number;
  ms: number;
  /** A delete found the object already gone (404 / not in the listing): counted as success. */
  alreadyGone?: boolean;
  /** Not attempted (the run stopped before it). */
  skipped?: boolean;
}

/**
 * The broker writes of one plan's operations: each op's request(s), with retries and backoff on
 * transient errors, and how a failure is reported (redacted).
 */
export interface Tally {
  attempts: number;
  node?: string;
}

export interface RunConfig {
  maxAttempts: number;
  backoffMs: number;
  writeTimeoutMs?: number;
  sleep: (ms: number) => Promise<void>;
}

class UnsupportedOpError extends Error {}

export class Run {
  requests = 0;

  constructor(
    private readonly client: BrokerClient,
    private readonly config: RunConfig,
  ) {}

  /** Resolves to true when a delete found nothing to delete. */
  async execute(op: PlanOp, tally: Tally): Promise<boolean> {
    const { key } = op;
    if (op.op === 'delete') {
      if (key.kind === 'binding') return this.deleteBinding(key, op.before, tally);
      return this.deleteObject('DELETE', objectPath(key), tally);
    }
    if (op.op === 'update' && (key.kind === 'exchange' || key.kind === 'queue')) {
      throw new UnsupportedOpError(`a ${key.kind} cannot be updated in place`);
    }
    const req = writeRequest(key, op.after);
    await this.send(req.method, req.path, req.body, tally);
    // A binding's arguments are part of its identity: the new one is added, then the old removed.
    if (op.op === 'update' && key.kind === 'binding') {
      await this.deleteBinding(key, op.before, tally);
    }
    return false;
  }

  private async deleteObject(method: HttpMethod, path: string, tally: Tally): Promise<boolean> {
    try {
      await this.send(method, path, undefined, tally);
      return false;
    } catch (err) {
      if (err instanceof BrokerNotFoundError) return true;
      throw err;
    }
  }

  /**
   * A binding is deleted through its `properties_key`, which holds a hash of its arguments that
   * only the broker computes: look it up in the listing between source and destination.
   */
  private async deleteBinding(key: ObjectKey, before: BrokerValue, tally: Tally): Promise<boolean> {
    const { routingKey } = parseBindingName(key.name);
    const listPath = bindingCollectionPath(key);
    const res = await this.send<unknown>('GET', listPath, undefined, tally);
    if (!Array.isArray(res.body)) {
      throw new BrokerProtocolError(
        'GET',
        listPath,
        res.node,
        'wrong-shape',
        'expected an array of bindings',
        res.attempts,
        res.status,
      );
    }
    const wanted = canonicalText('binding', before);
    const match = res.body.find(
      (b: unknown): b is { properties_key: string } =>
        typeof b === 'object' &&
        b !== null &&
        (b as Record<string, unknown>).routing_key === routingKey &&
        typeof (b as Record<string, unknown>).properties_key === 'string' &&
        canonicalText('binding', { arguments: (b as Record<string, unknown>).arguments ?? {} }) ===
          wanted,
    );
    if (!match) return true;
    return this.deleteObject('DELETE', bindingPath(key, match.properties_key), tally);
  }

  private async send<T = unknown>(
    method: HttpMethod,
    path: string,
    body: unknown,
    tally: Tally,
  ): Promise<ManagementResponse<T>> {
    for (let attempt = 1; ; attempt++) {
      tally.attempts++;
      this.requests++;
      try {
        const timeoutMs = method === 'GET' ? undefined : this.config.writeTimeoutMs;
        const res = await this.client.send<T>(
          method,
          path,
          body,
          timeoutMs === undefined ? undefined : { timeoutMs },
        );
        tally.node = res.node;
        return res;
      } catch (err) {
        if (err instanceof BrokerError)
          tally.node = err.node ?? err.attempts.at(-1)?.node ?? tally.node;
        if (!isTransient(err) || attempt >= this.config.maxAttempts) throw err;
        await this.config.sleep(this.config.backoffMs * 2 ** (attempt - 1));
      }
    }
  }
}

function isTransient(err: unknown): boolean {
  return (
    err instanceof BrokerTimeoutError ||
    err instanceof BrokerUnreachableError ||
    err instanceof BrokerServerError
  );
}

export function failure(err: unknown): Pick<OpOutcome, 'ok' | 'error' | 'errorKind' | 'status'> {
  if (err instanceof BrokerError) {
    return {
      ok: false,
      error: messageOf(err),
      errorKind: err.kind,
      ...(err.brokerStatus === undefined ? {} : { status: err.brokerStatus }),
    };
  }
  if (err instanceof UnsupportedOpError) {
    return { ok: false, error: messageOf(err), errorKind: 'unsupported' };
  }
  return { ok: false, error: messageOf(err), errorKind: 'internal' };
}

export function messageOf(err: unknown): string {
  return redactString(err instanceof Error ? err.message : String(err));
}
