import { createHash } from 'node:crypto';

/** One host that runs HAProxy and keepalived for a site. */
export interface LoadBalancerHost {
  name: string;
  address: string;
  priority: number;
}

/** A site's load balancer as stored in the registry (defaults already applied). */
export interface LoadBalancerSpec {
  virtualIp: string;
  /** What other sites put in link URIs (the site's loadBalancer.host). */
  address: string;
  interface: string;
  virtualRouterId: number;
  bindAddress: string;
  amqpPort: number;
  managementPort: number;
  statsPort: number | null;
  maxConnections: number;
  hosts: LoadBalancerHost[];
  healthCheck: { intervalMs: number; rise: number; fall: number };
  timeouts: { connectMs: number; clientMs: number; serverMs: number };
}

/** A broker node behind the load balancer. */
export interface BackendNode {
  name: string;
  host: string;
  amqpPort: number;
  managementPort: number;
}

export interface RenderInput {
  siteName: string;
  clusterName: string | null;
  spec: LoadBalancerSpec;
  nodes: BackendNode[];
}

/** Host names, IP literals and node names are validated on write; this keeps a config line one line. */
const token = (s: string) => s.replace(/[^A-Za-z0-9_.:@[\]-]/g, '_');
const bind = (address: string, port: number) =>
  address.includes(':') && !address.startsWith('[')
    ? `[${address}]:${port}`
    : `${address === '*' ? '*' : token(address)}:${port}`;
const serverName = (n: BackendNode) => token(n.name.replace(/@/g, '_at_'));

/**
 * haproxy.cfg for one site: a TCP front end for AMQP (long-lived connections: hours-long client
 * and server timeouts, TCP keep-alive on both sides, sessions cut when a node is marked down so
 * clients reconnect to a live node) and one for the management API, each with health-checked
 * backends built from the fronted cluster's nodes. Deterministic: the same registry rows always
 * render the same bytes, so the ETag only changes when the configuration does.
 */
export function renderHaproxyConfig(input: RenderInput): string {
  const { spec, nodes } = input;
  const hc = spec.healthCheck;
  const check = `check inter ${hc.intervalMs}ms rise ${hc.rise} fall ${hc.fall}`;
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines = [
    `# HAProxy for site ${token(input.siteName)}${input.clusterName ? `, cluster ${token(input.clusterName)}` : ''}: ${sorted.length} node(s).`,
    '# Rendered by crossdock from its registry; changes made here are overwritten.',
    // No global maxconn: HAProxy derives it from the process's file-descriptor limit.
    'global',
    '  log stdout format raw local0 info',
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  option dontlognull',
    '  option redispatch',
    '  retries 3',
    `  timeout connect ${spec.timeouts.connectMs}ms`,
    `  timeout client ${spec.timeouts.clientMs}ms`,
    `  timeout server ${spec.timeouts.serverMs}ms`,
    '  timeout client-fin 30s',
    '  timeout server-fin 30s',
    `  timeout check ${Math.min(hc.intervalMs, 5000)}ms`,
    '',
    'frontend amqp',
    `  bind ${bind(spec.bindAddress, spec.amqpPort)}`,
    '  option clitcpka',
    `  maxconn ${spec.maxConnections}`,
    '  default_backend rabbitmq_amqp',
    '',
    'backend rabbitmq_amqp',
    '  balance leastconn',
    '  option srvtcpka',
    `  default-server ${check} on-marked-down shutdown-sessions`,
    ...sorted.map((n) => `  server ${serverName(n)} ${bind(n.host, n.amqpPort)}`),
    '',
    'frontend management',
    `  bind ${bind(spec.bindAddress, spec.managementPort)}`,
    '  default_backend rabbitmq_management',
    '',
    'backend rabbitmq_management',
    '  balance roundrobin',
    '  option httpchk GET /',
    '  http-check expect status 200',
    `  default-server ${check}`,
    ...sorted.map((n) => `  server ${serverName(n)} ${bind(n.host, n.managementPort)}`),
  ];
  if (spec.statsPort !== null) {
    lines.push(
      '',
      'listen stats',
      `  bind ${bind(spec.bindAddress, spec.statsPort)}`,
      '  mode http',
      '  timeout client 30s',
      '  timeout server 30s',
      '  stats enable',
      '  stats uri /stats',
      '  stats refresh 5s',
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * keepalived.conf for one load-balancer host: one VRRP instance holding the site's virtual IP,
 * unicast to the other hosts (clouds and many switches drop VRRP multicast), the host with the
 * highest priority starting as MASTER, and the HAProxy process tracked so that a host whose
 * HAProxy is gone gives the address up.
 */
export function renderKeepalivedConfig(input: RenderInput, hostName: string): string {
  const { spec } = input;
  const host = spec.hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`no load-balancer host ${hostName}`);
  const top = Math.max(...spec.hosts.map((h) => h.priority));
  const peers = spec.hosts.filter((h) => h.name !== host.name);
  const instance = `crossdock_${token(input.siteName).replace(/[^A-Za-z0-9_]/g, '_')}`;
  const lines = [
    `# keepalived for site ${token(input.siteName)}, load-balancer host ${token(host.name)}.`,
    '# Rendered by crossdock from its registry; changes made here are overwritten.',
    'global_defs {',
    `  router_id ${instance}_${token(host.name).replace(/[^A-Za-z0-9_]/g, '_')}`,
    '}',
    '',
    'vrrp_track_process track_haproxy {',
    '  process haproxy',
    '  weight 0',
    '  quorum 1',
    '  delay 2',
    '}',
    '',
    `vrrp_instance ${instance} {`,
    `  state ${host.priority === top ? 'MASTER' : 'BACKUP'}`,
    `  interface ${token(spec.interface)}`,
    `  virtual_router_id ${spec.virtualRouterId}`,
    `  priority ${host.priority}`,
    '  advert_int 1',
    ...(peers.length
      ? [
          `  unicast_src_ip ${token(host.address)}`,
          '  unicast_peer {',
          ...peers.map((p) => `    ${token(p.address)}`),
          '  }',
        ]
      : []),
    '  virtual_ipaddress {',
    `    ${token(spec.virtualIp)}`,
    '  }',
    '  track_process {',
    '    track_haproxy',
    '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** Strong ETag of a rendered file: changes exactly when the bytes do. */
export function renderedEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}
