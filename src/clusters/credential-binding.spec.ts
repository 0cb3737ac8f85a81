import { credentialEndpoints, unboundEndpoints } from './credential-binding';

const node = (host: string, managementPort = 15672, amqpPort = 5672) => ({
  host,
  managementPort,
  amqpPort,
});

describe('credential binding', () => {
  const bound = {
    managementScheme: 'http',
    credentialsEndpoints: credentialEndpoints('http', [node('10.0.0.1'), node('10.0.0.2')]),
  };

  it('is usable on the endpoints it was entered for, or fewer of them', () => {
    expect(unboundEndpoints(bound, [node('10.0.0.1'), node('10.0.0.2')])).toEqual([]);
    expect(unboundEndpoints(bound, [node('10.0.0.2')])).toEqual([]);
  });

  it.each([
    ['a host change', [node('10.6.6.6'), node('10.0.0.2')], 'http'],
    ['a management port change', [node('10.0.0.1', 15673), node('10.0.0.2')], 'http'],
    ['an AMQP port change', [node('10.0.0.1', 15672, 5673), node('10.0.0.2')], 'http'],
    ['a new node', [node('10.0.0.1'), node('10.0.0.2'), node('10.0.0.3')], 'http'],
    ['a scheme change', [node('10.0.0.1'), node('10.0.0.2')], 'https'],
  ])('is not usable after %s', (_what, nodes, scheme) => {
    expect(unboundEndpoints({ ...bound, managementScheme: scheme }, nodes).length).toBeGreaterThan(
      0,
    );
  });

  it('binds nothing when nothing was entered', () => {
    expect(unboundEndpoints({ managementScheme: 'http' }, [node('10.0.0.1')])).toHaveLength(2);
  });
});
