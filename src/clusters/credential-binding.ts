/**
 * Admin credentials are bound to the endpoints they were entered for. Changing a node's host
 * or ports, the management scheme, or adding a node would otherwise send the stored password
 * to wherever the new endpoint points: so the stored credentials are used only while every
 * endpoint of the cluster is one they were entered for, and entering them again rebinds them.
 */

interface BindingCluster {
  managementScheme: string;
  credentialsEndpoints?: string[] | null;
  /** A cluster configured for TLS is reached over AMQPS: turning TLS off needs a rebind. */
  tls?: unknown;
}

interface BindingNode {
  host: string;
  managementPort: number;
  amqpPort: number;
}

/** Every endpoint the credentials are sent to: each node's management and AMQP listener. */
export function credentialEndpoints(
  scheme: string,
  nodes: readonly BindingNode[],
  tls = false,
): string[] {
  const set = new Set<string>();
  for (const n of nodes) {
    set.add(`${scheme} ${n.host} ${n.managementPort}`);
    set.add(`${tls ? 'amqps' : 'amqp'} ${n.host} ${n.amqpPort}`);
  }
  return [...set].sort();
}

/** Endpoints of the cluster the stored credentials were not entered for (empty: usable). */
export function unboundEndpoints(c: BindingCluster, nodes: readonly BindingNode[]): string[] {
  const bound = new Set(c.credentialsEndpoints ?? []);
  return credentialEndpoints(c.managementScheme, nodes, !!c.tls).filter((e) => !bound.has(e));
}
