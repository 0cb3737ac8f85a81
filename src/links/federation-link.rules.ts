import { patternProblem } from '../common/dto/broker-pattern';
import { DomainException } from '../common/errors/domain.exception';

/** A link covers either the objects it names or those whose names start with a prefix. */
export function checkTargets(
  targets: string[] | undefined,
  prefix: string | undefined | null,
): void {
  if ((targets?.length ?? 0) > 0 === (prefix !== undefined && prefix !== null)) {
    throw DomainException.validation([
      {
        field: 'targets',
        message: 'give either targets (names) or targetPrefix, not both and not neither',
      },
    ]);
  }
  if (prefix) {
    const problem = patternProblem(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
    if (problem) throw DomainException.validation([{ field: 'targetPrefix', message: problem }]);
  }
}

/**
 * The upstream exchange or queue a link names: only the one of its own kind. undefined: not
 * given; null: the object named like the downstream one.
 */
export function upstreamObjectOf(
  kind: 'exchange' | 'queue',
  upstream: { exchange?: string | null; queue?: string | null },
): string | null | undefined {
  const other = kind === 'exchange' ? 'queue' : 'exchange';
  if (upstream[other] !== undefined)
    throw DomainException.validation([
      {
        field: `upstream.${other}`,
        message: `${kind} federation pulls from an upstream ${kind}: give upstream.${kind}, not upstream.${other}`,
      },
    ]);
  return upstream[kind];
}
