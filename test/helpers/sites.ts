import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface LocalNode {
  name: string;
  host: string;
  amqpPort: number;
  managementPort: number;
  distPort: number;
  type: 'disc' | 'ram';
}

export interface LocalSite {
  name: string;
  clusterName: string;
  nodes: LocalNode[];
  link: { host: string; port: number };
}

/** The state file written by `scripts/sites up`. */
export interface SitesState {
  basePort: number;
  dir: string;
  admin: { username: string; password: string };
  wanProxy: { controlPort: number };
  sites: LocalSite[];
}

export function sitesStatePath(): string {
  const p = process.env.CROSSDOCK_TEST_SITES_STATE;
  if (!p)
    throw new Error('CROSSDOCK_TEST_SITES_STATE is not set: run tests through jest (global setup)');
  return p;
}

export function loadSites(path = sitesStatePath()): SitesState {
  return JSON.parse(readFileSync(path, 'utf8')) as SitesState;
}

export function site(state: SitesState, name: string): LocalSite {
  const s = state.sites.find((x) => x.name === name);
  if (!s) throw new Error(`no local site ${name}`);
  return s;
}

/** Minimal management API client for test assertions (the product has its own client). */
export class TestManagement {
  constructor(
    private readonly node: LocalNode,
    private readonly admin: { username: string; password: string },
  ) {}

  static forSite(state: SitesState, name: string, nodeIndex = 0): TestManagement {
    return new TestManagement(site(state, name).nodes[nodeIndex], state.admin);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const auth = Buffer.from(`${this.admin.username}:${this.admin.password}`).toString('base64');
    const res = await fetch(`http://${this.node.host}:${this.node.managementPort}${path}`, {
      method,
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 200)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A vhost of the test's own on a shared cluster, with the admin user allowed in it. */
  async createVhost(prefix = 't'): Promise<string> {
    const vhost = `${prefix}-${randomBytes(4).toString('hex')}`;
    await this.request('PUT', `/api/vhosts/${encodeURIComponent(vhost)}`, {});
    await this.request(
      'PUT',
      `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(this.admin.username)}`,
      { configure: '.*', write: '.*', read: '.*' },
    );
    return vhost;
  }

  /**
   * Deletes the test's vhost, and crossdock's probe vhost with it: that one is shared by every
   * test app on these brokers, and probe objects left by one spec (with that spec's link-user
   * password) would otherwise keep reconnecting through the rest of the run.
   */
  async deleteVhost(vhost: string): Promise<void> {
    for (const v of [vhost, 'crossdock.probe']) {
      await this.stopLinks(v).catch(() => undefined);
      await this.request('DELETE', `/api/vhosts/${encodeURIComponent(v)}`).catch(() => undefined);
    }
  }

  /**
   * Removes a vhost's policies, upstreams and shovels, and waits (up to 10 s) for its federation
   * links to stop, before the vhost itself goes. Deleting a vhost under a federation link that is
   * (re)starting can leave RabbitMQ 3.10's mirrored federation supervisor with a dead child, after
   * which every federation-upstream write on that cluster answers 500
   * (`noproc ... which_children`) until the nodes restart: one spec's cleanup would break the
   * specs after it.
   */
  private async stopLinks(vhost: string): Promise<void> {
    const v = encodeURIComponent(vhost);
    const list = (path: string) =>
      this.request<{ name: string }[]>('GET', path).catch(() => [] as { name: string }[]);
    for (const p of await list(`/api/policies/${v}`))
      await this.request('DELETE', `/api/policies/${v}/${encodeURIComponent(p.name)}`);
    for (const component of ['federation-upstream-set', 'federation-upstream', 'shovel'])
      for (const p of await list(`/api/parameters/${component}/${v}`))
        await this.request(
          'DELETE',
          `/api/parameters/${component}/${v}/${encodeURIComponent(p.name)}`,
        ).catch(() => undefined);
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && (await list(`/api/federation-links/${v}`)).length > 0)
      await new Promise((r) => setTimeout(r, 200));
  }
}

/** The same vhost on several sites, with the admin user allowed in it (links need both ends). */
export async function createSharedVhost(
  state: SitesState,
  names: string[],
  vhost: string,
): Promise<TestManagement[]> {
  const out: TestManagement[] = [];
  for (const name of names) {
    const m = TestManagement.forSite(state, name);
    await m.request('PUT', `/api/vhosts/${encodeURIComponent(vhost)}`, {});
    await m.request(
      'PUT',
      `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(state.admin.username)}`,
      {
        configure: '.*',
        write: '.*',
        read: '.*',
      },
    );
    out.push(m);
  }
  return out;
}
