import { linkUris } from './link-uri';
import { formatQuery, linkFilePattern, linkTlsQuery } from '../broker/link-tls';

describe('linkTlsQuery', () => {
  const files = {
    caCertFile: '/etc/rabbitmq/tls/ca-bundle.pem',
    certFile: '/etc/rabbitmq/tls/client.pem',
    keyFile: '/etc/rabbitmq/tls/client.key',
  };

  it('names the runner files, always verifies the peer and sends the remote server name', () => {
    expect(formatQuery(linkTlsQuery({ serverName: 'dc2.example.net' }, files))).toBe(
      'cacertfile=/etc/rabbitmq/tls/ca-bundle.pem&certfile=/etc/rabbitmq/tls/client.pem' +
        '&keyfile=/etc/rabbitmq/tls/client.key&verify=verify_peer&server_name_indication=dc2.example.net',
    );
  });

  it('keeps verify_peer without runner files (the link fails verification, never runs unverified)', () => {
    expect(linkTlsQuery({ serverName: null }, null)).toEqual([['verify', 'verify_peer']]);
    expect(linkTlsQuery({ serverName: null }, { ...files, certFile: null, keyFile: null })).toEqual(
      [
        ['cacertfile', files.caCertFile],
        ['verify', 'verify_peer'],
      ],
    );
  });

  it('accepts only absolute paths a URI query carries as they are', () => {
    expect(linkFilePattern.test('/etc/rabbitmq/ca.pem')).toBe(true);
    for (const bad of ['etc/ca.pem', '/etc/ca.pem&verify=verify_none', '/a b', '/x?y', '/%2F'])
      expect(linkFilePattern.test(bad)).toBe(false);
  });
});

describe('linkUris with TLS', () => {
  const snapshot = (tls: boolean) => ({
    clusters: {
      up: {
        id: 'up',
        siteId: 's1',
        brokerClusterName: 'dc1',
        linkEndpoints: [{ host: '10.0.0.1', port: 5671 }],
        tls: tls ? { serverName: 'dc1.example.net', linkFiles: null } : null,
      },
      down: {
        id: 'down',
        siteId: 's2',
        brokerClusterName: 'dc2',
        linkEndpoints: [{ host: '10.0.1.1', port: 5672 }],
        tls: {
          serverName: null,
          linkFiles: { caCertFile: '/etc/tls/ca.pem', certFile: null, keyFile: null },
        },
      },
    },
    sites: { s1: { id: 's1', loadBalancer: null }, s2: { id: 's2', loadBalancer: null } },
    linkCredentials: { up: { username: 'link', password: 'p@ss' } },
  });

  it('uses amqps with the runner files and the remote server name for a TLS cluster', () => {
    expect(linkUris(snapshot(true), 'up', '/', 'down')).toEqual([
      'amqps://link:p%40ss@10.0.0.1:5671/%2F?heartbeat=10&connection_timeout=10000' +
        '&cacertfile=/etc/tls/ca.pem&verify=verify_peer&server_name_indication=dc1.example.net',
    ]);
  });

  it('stays plain amqp to a cluster without TLS, whatever the runner has', () => {
    expect(linkUris(snapshot(false), 'up', '/', 'down')).toEqual([
      'amqp://link:p%40ss@10.0.0.1:5671/%2F?heartbeat=10&connection_timeout=10000',
    ]);
  });
});
