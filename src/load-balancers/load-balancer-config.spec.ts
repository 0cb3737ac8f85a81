import {
  renderedEtag,
  renderHaproxyConfig,
  renderKeepalivedConfig,
  type RenderInput,
} from './load-balancer-config';
import { loadBalancerSpec } from './load-balancers.service';

const input = (over: Partial<RenderInput> = {}): RenderInput => ({
  siteName: 'dc1',
  clusterName: 'main',
  spec: loadBalancerSpec({
    virtualIp: '10.0.1.10',
    hosts: [
      { name: 'lb1', address: '10.0.1.11' },
      { name: 'lb2', address: '10.0.1.12' },
    ],
  }),
  nodes: [
    { name: 'rabbit@b', host: '10.0.1.22', amqpPort: 5672, managementPort: 15672 },
    { name: 'rabbit@a', host: '10.0.1.21', amqpPort: 5672, managementPort: 15672 },
  ],
  ...over,
});

describe('renderHaproxyConfig', () => {
  it('fronts AMQP and management with health-checked backends, nodes in name order', () => {
    const cfg = renderHaproxyConfig(input());
    expect(cfg).toContain('frontend amqp\n  bind *:5672\n  option clitcpka');
    expect(cfg).toContain('  option srvtcpka');
    expect(cfg).toContain(
      '  default-server check inter 2000ms rise 2 fall 3 on-marked-down shutdown-sessions',
    );
    const amqp = cfg.slice(
      cfg.indexOf('backend rabbitmq_amqp'),
      cfg.indexOf('frontend management'),
    );
    expect(amqp.indexOf('rabbit_at_a 10.0.1.21:5672')).toBeLessThan(
      amqp.indexOf('rabbit_at_b 10.0.1.22:5672'),
    );
    expect(cfg).toContain('  server rabbit_at_a 10.0.1.21:15672');
    expect(cfg).toContain('  option httpchk GET /');
    // Long-lived AMQP connections: hours, not the 30 s of a web proxy.
    expect(cfg).toContain('  timeout client 10800000ms');
    expect(cfg).toContain('  timeout server 10800000ms');
    expect(cfg).not.toContain('listen stats');
  });

  it('is deterministic: the ETag changes exactly when a backend does', () => {
    const a = renderHaproxyConfig(input());
    const b = renderHaproxyConfig(input({ nodes: [...input().nodes].reverse() }));
    expect(renderedEtag(a)).toBe(renderedEtag(b));
    const c = renderHaproxyConfig(
      input({
        nodes: [
          ...input().nodes,
          { name: 'rabbit@c', host: '10.0.1.23', amqpPort: 5672, managementPort: 15672 },
        ],
      }),
    );
    expect(renderedEtag(c)).not.toBe(renderedEtag(a));
    expect(renderedEtag(a)).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });

  it('brackets IPv6 literals, binds the given address and renders the stats page on request', () => {
    const spec = { ...input().spec, bindAddress: '10.0.1.10', statsPort: 8404 };
    const cfg = renderHaproxyConfig(
      input({
        spec,
        nodes: [{ name: 'n1', host: 'fd00::1', amqpPort: 5672, managementPort: 15672 }],
      }),
    );
    expect(cfg).toContain('  server n1 [fd00::1]:5672');
    expect(cfg).toContain('  bind 10.0.1.10:5672');
    expect(cfg).toContain('listen stats\n  bind 10.0.1.10:8404');
  });

  it('keeps every name on its own line whatever it holds', () => {
    const cfg = renderHaproxyConfig(
      input({
        siteName: 'dc1\nglobal',
        nodes: [{ name: 'a b\nc', host: 'h', amqpPort: 1, managementPort: 2 }],
      }),
    );
    expect(cfg).toContain('  server a_b_c h:1');
    expect(cfg.split('\n').filter((l) => l === 'global')).toHaveLength(1);
  });
});

describe('renderKeepalivedConfig', () => {
  it('one VRRP instance per host: the highest priority starts MASTER, peers over unicast', () => {
    const lb1 = renderKeepalivedConfig(input(), 'lb1');
    const lb2 = renderKeepalivedConfig(input(), 'lb2');
    expect(lb1).toContain('  state MASTER\n');
    expect(lb1).toContain('  priority 150\n');
    expect(lb1).toContain('  unicast_src_ip 10.0.1.11\n  unicast_peer {\n    10.0.1.12\n  }');
    expect(lb2).toContain('  state BACKUP\n');
    expect(lb2).toContain('  priority 140\n');
    for (const f of [lb1, lb2]) {
      expect(f).toContain('  virtual_ipaddress {\n    10.0.1.10\n  }');
      expect(f).toContain('vrrp_track_process track_haproxy {\n  process haproxy');
      expect(f).toContain('  track_process {\n    track_haproxy\n  }');
    }
  });

  it('a single host has no unicast peers', () => {
    const spec = loadBalancerSpec({
      virtualIp: '10.0.1.10',
      hosts: [{ name: 'lb1', address: '10.0.1.11' }],
    });
    const f = renderKeepalivedConfig(input({ spec }), 'lb1');
    expect(f).not.toContain('unicast');
    expect(() => renderKeepalivedConfig(input({ spec }), 'lb9')).toThrow(/no load-balancer host/);
  });
});
