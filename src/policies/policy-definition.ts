import type { PolicyApplyTo } from '../broker-topology/broker-versions';
import type { FieldError } from '../common/errors/domain.exception';

type Check = (v: unknown) => boolean;
const int =
  (min: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min;
const oneOf =
  (...xs: string[]): Check =>
  (v) =>
    typeof v === 'string' && xs.includes(v);
const str: Check = (v) => typeof v === 'string' && v.length > 0 && v.length <= 255;

/** Policy keys RabbitMQ 3.10 knows, by what they apply to. Federation keys belong to links. */
const queueKeys: Record<string, Check> = {
  'max-length': int(0),
  'max-length-bytes': int(0),
  overflow: oneOf('drop-head', 'reject-publish', 'reject-publish-dlx'),
  expires: int(1),
  'message-ttl': int(0),
  'dead-letter-exchange': (v) => typeof v === 'string' && v.length <= 255,
  'dead-letter-routing-key': (v) => typeof v === 'string' && v.length <= 255,
  'dead-letter-strategy': oneOf('at-most-once', 'at-least-once'),
  'queue-mode': oneOf('default', 'lazy'),
  'queue-master-locator': oneOf('min-masters', 'client-local', 'random'),
  'max-in-memory-length': int(0),
  'max-in-memory-bytes': int(0),
  'delivery-limit': int(0),
  'ha-mode': oneOf('all', 'exactly', 'nodes'),
  'ha-params': (v) =>
    int(1)(v) || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')),
  'ha-sync-mode': oneOf('manual', 'automatic'),
  'ha-sync-batch-size': int(1),
  'ha-promote-on-shutdown': oneOf('when-synced', 'always'),
  'ha-promote-on-failure': oneOf('when-synced', 'always'),
};
const exchangeKeys: Record<string, Check> = { 'alternate-exchange': str };
const federationKeys = [
  'federation-upstream',
  'federation-upstream-set',
  'federation-upstream-pattern',
];

export interface DefinitionCheck {
  errors: FieldError[];
  warnings: string[];
}

export function checkDefinition(
  applyTo: PolicyApplyTo,
  def: Record<string, unknown>,
): DefinitionCheck {
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  const known = applyTo === 'exchanges' ? exchangeKeys : queueKeys;
  const keys = Object.keys(def);
  if (keys.length === 0)
    errors.push({ field: 'definition', message: 'definition must set at least one key' });
  // Counted before any key is looked at: the per-key checks are the expensive part.
  if (keys.length > 50) {
    errors.push({ field: 'definition', message: 'definition has too many keys (at most 50)' });
    return { errors, warnings };
  }
  for (const key of keys) {
    const field = `definition.${key}`;
    if (federationKeys.includes(key)) {
      errors.push({
        field,
        message: 'federation keys are generated from federation links; create a link instead',
      });
    } else if (!known[key]) {
      errors.push({ field, message: `not a RabbitMQ 3.10 policy key for ${applyTo}` });
    } else if (!known[key](def[key])) {
      errors.push({ field, message: 'invalid value for this key' });
    }
  }
  const mode = def['ha-mode'];
  if (
    (applyTo === 'quorum_queues' || applyTo === 'streams') &&
    keys.some((k) => k.startsWith('ha-'))
  )
    errors.push({
      field: 'definition.ha-mode',
      message: `${applyTo.replace('_', ' ')} do not support ha-* keys: the broker would never apply this policy`,
    });
  if (mode !== undefined) {
    warnings.push(
      'ha-mode (classic mirroring) is removed in RabbitMQ 4.0, which refuses to start with it: plan a move to quorum queues',
    );
    const params = def['ha-params'];
    if (mode === 'all' && params !== undefined)
      errors.push({ field: 'definition.ha-params', message: 'ha-mode all takes no ha-params' });
    if (mode === 'exactly' && !int(1)(params))
      errors.push({
        field: 'definition.ha-params',
        message: 'ha-mode exactly needs a positive integer',
      });
    if (mode === 'nodes' && !Array.isArray(params))
      errors.push({
        field: 'definition.ha-params',
        message: 'ha-mode nodes needs a list of node names',
      });
  } else if (def['ha-params'] !== undefined || def['ha-sync-mode'] !== undefined) {
    errors.push({ field: 'definition.ha-mode', message: 'ha-* keys need ha-mode' });
  }
  if (def['dead-letter-strategy'] === 'at-least-once' && def.overflow !== 'reject-publish') {
    errors.push({
      field: 'definition.dead-letter-strategy',
      message: 'at-least-once dead-lettering needs overflow: reject-publish (quorum queues)',
    });
  }
  if (def.overflow === 'reject-publish-dlx') {
    warnings.push(
      'reject-publish-dlx: quorum queues silently fall back to drop-head, and classic queues nack publishers for messages they did dead-letter',
    );
  }
  return { errors, warnings };
}
