import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { redactString, redactedPlaceholder } from '../common/logging/redact';
import type { BrokerErrorKind, HttpMethod, NodeAttempt } from './management.types';

/** What kind of malformed answer a BrokerProtocolError reports. */
export type BrokerProtocolProblem =
  'invalid-json' | 'truncated' | 'too-large' | 'wrong-shape' | 'unexpected-status';

interface BrokerErrorInit {
  method: HttpMethod;
  path: string;
  attempts: NodeAttempt[];
  /** Node that answered (HTTP-level errors only). */
  node?: string;
  /** The broker's HTTP status (HTTP-level errors only). */
  brokerStatus?: number;
}

/**
 * Base of every management API failure. Messages and fields are built from our own strings and
 * redacted broker text only: never a password or a URI with credentials. All of them map to
 * problem+json `broker-unavailable` (no finer code exists in ErrorCode yet): 503 when no node
 * answered in time, 502 when a node answered something we cannot use.
 */
export abstract class BrokerError extends DomainException {
  abstract readonly kind: BrokerErrorKind;
  readonly method: HttpMethod;
  readonly path: string;
  readonly attempts: NodeAttempt[];
  readonly node?: string;
  readonly brokerStatus?: number;

  protected constructor(httpStatus: number, title: string, message: string, init: BrokerErrorInit) {
    super(ErrorCode.BrokerUnavailable, httpStatus, title, message, [], {
      broker: {
        method: init.method,
        path: init.path,
        node: init.node,
        status: init.brokerStatus,
        attempts: init.attempts,
      },
    });
    this.method = init.method;
    this.path = init.path;
    this.attempts = init.attempts;
    this.node = init.node;
    this.brokerStatus = init.brokerStatus;
  }
}

function summarise(attempts: NodeAttempt[]): string {
  return attempts.map((a) => `${a.node}: ${a.error ?? a.errorKind ?? 'ok'}`).join('; ');
}

/** No node gave an HTTP answer (connection refused/reset, DNS, TLS, or a mix with timeouts). */
export class BrokerUnreachableError extends BrokerError {
  readonly kind = 'unreachable' as const;
  constructor(method: HttpMethod, path: string, attempts: NodeAttempt[]) {
    super(
      503,
      'Broker unreachable',
      `${method} ${path}: no management node answered (${summarise(attempts)})`,
      { method, path, attempts },
    );
    this.name = 'BrokerUnreachableError';
  }
}

/** Every node tried timed out. */
export class BrokerTimeoutError extends BrokerError {
  readonly kind = 'timeout' as const;
  constructor(
    method: HttpMethod,
    path: string,
    attempts: NodeAttempt[],
    readonly timeoutMs: number,
  ) {
    super(
      503,
      'Broker timeout',
      `${method} ${path}: no management node answered within ${timeoutMs} ms (${summarise(attempts)})`,
      { method, path, attempts },
    );
    this.name = 'BrokerTimeoutError';
  }
}

/** 401/403: the configured management user was refused. */
export class BrokerAuthError extends BrokerError {
  readonly kind = 'auth' as const;
  constructor(
    method: HttpMethod,
    path: string,
    node: string,
    brokerStatus: number,
    attempts: NodeAttempt[],
  ) {
    super(
      502,
      'Broker refused the credentials',
      `${method} ${path}: ${node} answered ${brokerStatus} (${brokerStatus === 401 ? 'login failed' : 'not authorised'})`,
      { method, path, attempts, node, brokerStatus },
    );
    this.name = 'BrokerAuthError';
  }
}

export class BrokerNotFoundError extends BrokerError {
  readonly kind = 'not-found' as const;
  constructor(method: HttpMethod, path: string, node: string, attempts: NodeAttempt[]) {
    super(502, 'Broker object not found', `${method} ${path}: ${node} answered 404`, {
      method,
      path,
      attempts,
      node,
      brokerStatus: 404,
    });
    this.name = 'BrokerNotFoundError';
  }
}

/** Any other 4xx; `reason` is the broker's own explanation, redacted. */
export class BrokerRejectedError extends BrokerError {
  readonly kind = 'rejected' as const;
  constructor(
    method: HttpMethod,
    path: string,
    node: string,
    brokerStatus: number,
    readonly reason: string,
    attempts: NodeAttempt[],
  ) {
    super(
      502,
      'Broker rejected the request',
      `${method} ${path}: ${node} answered ${brokerStatus}: ${reason}`,
      { method, path, attempts, node, brokerStatus },
    );
    this.name = 'BrokerRejectedError';
  }
}

/** 5xx from every node tried (the last one is reported). */
export class BrokerServerError extends BrokerError {
  readonly kind = 'server' as const;
  constructor(
    method: HttpMethod,
    path: string,
    node: string,
    brokerStatus: number,
    readonly reason: string,
    attempts: NodeAttempt[],
  ) {
    super(
      502,
      'Broker server error',
      `${method} ${path}: ${node} answered ${brokerStatus}${reason ? `: ${reason}` : ''}`,
      { method, path, attempts, node, brokerStatus },
    );
    this.name = 'BrokerServerError';
  }
}

/** The node answered, but not with something we can use. Never carries the raw body. */
export class BrokerProtocolError extends BrokerError {
  readonly kind = 'protocol' as const;
  constructor(
    method: HttpMethod,
    path: string,
    node: string,
    readonly problem: BrokerProtocolProblem,
    detail: string,
    attempts: NodeAttempt[],
    brokerStatus?: number,
  ) {
    super(502, 'Broker answered an unusable response', `${method} ${path}: ${node}: ${detail}`, {
      method,
      path,
      attempts,
      node,
      brokerStatus,
    });
    this.name = 'BrokerProtocolError';
  }
}

/** `timeout`, `server`, `protocol/invalid-json`, ...: a stable label for runs and status. */
export function typedKind(err: BrokerError): string {
  return err instanceof BrokerProtocolError ? `${err.kind}/${err.problem}` : err.kind;
}

/** Worth retrying later or elsewhere: nothing (usable) answered in time. */
export function isBrokerUnavailable(err: unknown): boolean {
  return (
    err instanceof BrokerError &&
    (err.kind === 'unreachable' || err.kind === 'timeout' || err.kind === 'server')
  );
}

const htmlEntities: Record<string, string> = {
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
  '&amp;': '&',
};

/**
 * Makes broker-supplied text safe to keep in errors and logs: undoes the management plugin's HTML
 * escaping (3.10 sends `&lt;&lt;"x"&gt;&gt;`), strips credentials from URIs (validation errors
 * echo upstream URIs with their passwords), removes literal occurrences of our own secrets and
 * bounds the length.
 */
/** How a known secret may appear in echoed text besides verbatim. */
function secretForms(secret: string): Set<string> {
  return new Set([
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64'),
  ]);
}

export function redactBrokerText(text: string, secrets: string[] = [], maxLength = 500): string {
  let out = text.replace(/&(lt|gt|quot|#39|amp);/g, (m) => htmlEntities[m] ?? m);
  out = redactString(out.replace(/\s+/g, ' ').trim());
  for (const secret of secrets) {
    // Secrets this short would match ordinary words; URIs are still redacted above.
    if (secret.length < 3) continue;
    for (const form of secretForms(secret)) {
      out = out.split(form).join(redactedPlaceholder);
    }
  }
  return out.length > maxLength ? `${out.slice(0, maxLength)}...` : out;
}
