import { classifyLinkFailure, classifyLinkState, type LinkFailure } from './link-failure';

/** Strings as RabbitMQ 3.10.8 writes them into `GET /api/federation-links` and `GET /api/shovels`. */
const cases: [string, string, Partial<LinkFailure>][] = [
  [
    'federation: upstream queue declare refused (3.10, multi-line Erlang term)',
    `{server_initiated_close,403,\n                        <<"ACCESS_REFUSED - access to queue 'federation: fx -> crossdock-53000-dc2' in vhost 'exp' refused for user 'lu1'">>}`,
    {
      code: 'access-refused',
      object: { kind: 'queue', name: 'federation: fx -> crossdock-53000-dc2', vhost: 'exp' },
      user: 'lu1',
    },
  ],
  [
    'newer brokers name the permission',
    `{server_initiated_close,403,<<"ACCESS_REFUSED - configure access to queue 'orders' in vhost '/' refused for user 'crossdock-link'">>}`,
    {
      code: 'access-refused',
      permission: 'configure',
      object: { kind: 'queue', name: 'orders', vhost: '/' },
      user: 'crossdock-link',
    },
  ],
  [
    'write to an exchange',
    `{shutdown,{server_initiated_close,403,<<"ACCESS_REFUSED - write access to exchange 'amq.default' in vhost 'v' refused for user 'u'">>}}`,
    {
      code: 'access-refused',
      permission: 'write',
      object: { kind: 'exchange', name: 'amq.default', vhost: 'v' },
    },
  ],
  [
    'login refused',
    `{auth_failure,"ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."}`,
    { code: 'authentication-failed' },
  ],
  ['vhost missing or not permitted', 'not_allowed', { code: 'access-refused' }],
  [
    'vhost refused with text',
    `{server_initiated_close,530,<<"NOT_ALLOWED - access to vhost 'v' refused for user 'u'">>}`,
    { code: 'access-refused', object: { kind: 'vhost', name: 'v' }, user: 'u' },
  ],
  [
    'queue not found',
    `{server_initiated_close,404,<<"NOT_FOUND - no queue 'missing' in vhost 'exp'">>}`,
    { code: 'not-found', object: { kind: 'queue', name: 'missing', vhost: 'exp' } },
  ],
  [
    'exchange not found',
    `{shutdown,{server_initiated_close,404,<<"NOT_FOUND - no exchange 'nox' in vhost '/'">>}}`,
    { code: 'not-found', object: { kind: 'exchange', name: 'nox', vhost: '/' } },
  ],
  [
    'inequivalent arguments',
    `{server_initiated_close,406,<<"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost 'v': received none but current is the value 'quorum' of type 'longstr'">>}`,
    { code: 'precondition-failed' },
  ],
  ['connection refused', 'econnrefused', { code: 'connection-refused' }],
  ['connection reset', 'econnreset', { code: 'connection-reset' }],
  ['connection closed', 'closed', { code: 'connection-reset' }],
  [
    'socket closed',
    "{socket_closed_unexpectedly,'connection.start'}",
    { code: 'connection-reset' },
  ],
  ['connect timeout', 'timeout', { code: 'timeout' }],
  ['missed heartbeats', '{shutdown,heartbeat_timeout}', { code: 'timeout' }],
  ['no such host', 'nxdomain', { code: 'host-unreachable' }],
  [
    'unknown CA',
    `{tls_alert,{unknown_ca,"TLS client: In state certify at ssl_handshake.erl:2111 generated CLIENT ALERT: Fatal - Unknown CA\\n"}}`,
    { code: 'tls-failure', certificateVerification: true },
  ],
  ['plain AMQP against a TLS port', 'server_sent_malformed_header', { code: 'tls-failure' }],
  ['a 3.10 shovel restarting', '"needed a restart"', { code: 'restarting' }],
  ['anything else', 'something odd', { code: 'other', detail: 'something odd' }],
];

describe('classifyLinkFailure', () => {
  it.each(cases)('%s', (_name, text, expected) => {
    expect(classifyLinkFailure(text)).toMatchObject(expected);
  });

  it('names user, object and vhost in its detail', () => {
    expect(classifyLinkFailure(cases[0][1])?.detail).toBe(
      'access refused: user "lu1" may not use queue "federation: fx -> crossdock-53000-dc2" in vhost "exp" (the broker does not say which permission: declaring needs configure, publishing write, consuming read)',
    );
    expect(classifyLinkFailure(cases[1][1])?.detail).toBe(
      'access refused: user "crossdock-link" may not configure queue "orders" in vhost "/"',
    );
  });

  it('has nothing to say without text', () => {
    expect(classifyLinkFailure(undefined)).toBeNull();
    expect(classifyLinkFailure('  ')).toBeNull();
  });

  it('reads a blocked state as a resource alarm', () => {
    expect(classifyLinkState('blocked')).toMatchObject({ code: 'resource-alarm' });
    expect(classifyLinkState('starting')).toBeNull();
    expect(classifyLinkState('terminated', 'econnrefused')).toMatchObject({
      code: 'connection-refused',
    });
  });
});
