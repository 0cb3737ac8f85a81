import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SitesState } from './sites';

const run = promisify(execFile);

/**
 * rabbitmqctl against a local-site node (scripts/sites), with the sites' shared Erlang cookie in
 * HOME and the CLI's own distribution ports taken from the block scripts/sites reserves for it.
 */
export async function rabbitmqctl(
  state: SitesState,
  node: string,
  ...args: string[]
): Promise<void> {
  await run('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-q', '-n', node, ...args], {
    timeout: 90000,
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: join(state.dir, 'home'),
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      RABBITMQ_CTL_DIST_PORT_MIN: String(state.basePort + 70),
      RABBITMQ_CTL_DIST_PORT_MAX: String(state.basePort + 89),
    },
  });
}
