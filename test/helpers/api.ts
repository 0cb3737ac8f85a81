import type TestAgent from 'supertest/lib/agent';
import type { Role } from '../../src/common/actor/actor';

export function bootstrapToken(): string {
  const t = process.env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN;
  if (!t) throw new Error('CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN not set (global setup sets it)');
  return t;
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Creates one token per role through the API, using the bootstrap admin token. */
export async function tokensByRole(http: TestAgent, tag: string): Promise<Record<Role, string>> {
  const out = {} as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    const res = await http
      .post('/tokens')
      .set(bearer(bootstrapToken()))
      .send({ name: `${tag}-${role}-${Date.now()}`, role });
    if (res.status !== 201) throw new Error(`token create failed: ${res.status} ${res.text}`);
    out[role] = res.body.token;
  }
  return out;
}

let counter = 0;
/** A DNS-label name unique to this run. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export function clusterBody(siteId: string, overrides: Record<string, unknown> = {}) {
  const name = uniqueName('c');
  return {
    siteId,
    name,
    brokerClusterName: `bcn-${name}`,
    linkEndpoints: [{ host: '127.0.0.1', port: 5999 }],
    vhosts: ['/'],
    credentials: { username: 'admin-user', password: 'Sup3r-S3cret-Pa55' },
    nodes: [
      {
        name: `rabbit@${name}-1`,
        host: '127.0.0.1',
        amqpPort: 5999,
        managementPort: 15999,
        type: 'disc',
      },
      {
        name: `rabbit@${name}-2`,
        host: '127.0.0.1',
        amqpPort: 6999,
        managementPort: 16999,
        type: 'ram',
      },
    ],
    ...overrides,
  };
}
