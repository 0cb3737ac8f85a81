import { interimValue } from './link-user-refresh';
import { staleObjectNames } from './link-user-rotation';

describe('staleObjectNames', () => {
  it('names the crossdock upstreams and shovels behind connections, once each', () => {
    expect(
      staleObjectNames([
        {
          name: '10.0.0.1:5000 -> 10.0.0.2:5672',
          user_provided_name:
            'Federation link (upstream: crossdock.up.orders, policy: crossdock.p.x.1)',
        },
        {
          name: '10.0.0.1:5001 -> 10.0.0.2:5672',
          user_provided_name:
            'Federation link (upstream: crossdock.up.orders, policy: crossdock.p.x.2)',
        },
        { name: 'c3', user_provided_name: 'Shovel crossdock.sh.overflow-eu' },
        { name: 'c4', user_provided_name: 'Federation link (upstream: hand-made, policy: p)' },
        { name: 'c5' },
      ]),
    ).toEqual(['crossdock.sh.overflow-eu', 'crossdock.up.orders']);
  });
});

describe('interimValue (a harmless real change that makes the broker restart the link)', () => {
  it('moves the prefetch by one and keeps everything else', () => {
    expect(
      interimValue({
        kind: 'federation-upstream',
        value: { uri: ['amqp://h'], 'prefetch-count': 1000, 'ack-mode': 'on-confirm' },
      }),
    ).toEqual({ uri: ['amqp://h'], 'prefetch-count': 999, 'ack-mode': 'on-confirm' });
    expect(
      interimValue({
        kind: 'federation-upstream',
        value: { uri: 'amqp://h', 'prefetch-count': 1 },
      }),
    ).toMatchObject({ 'prefetch-count': 2 });
    expect(
      interimValue({ kind: 'shovel', value: { 'src-uri': ['amqp://'], 'src-prefetch-count': 10 } }),
    ).toMatchObject({ 'src-prefetch-count': 9 });
  });
});
