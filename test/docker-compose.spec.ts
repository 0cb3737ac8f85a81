import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { EnvironmentError, environmentKeys, validateEnvironment } from '../src/config/environment';

/**
 * No Docker engine runs where the tests run, so the container files are checked by parsing them:
 * docker/docker-compose.yml against the service's environment contract, the two RabbitMQ sites,
 * and docker/Dockerfile's stages.
 */

const root = resolve(__dirname, '..');
const dockerDir = join(root, 'docker');
const read = (path: string): string => readFileSync(path, 'utf8');

// ---- compose model (only the parts checked here) ----

type Scalar = string | number | boolean | null;
interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, Scalar> | string[];
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string })[];
  networks?: string[] | Record<string, unknown>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  configs?: (string | { source: string; target?: string })[];
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  hostname?: string;
  restart?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}
interface Compose {
  services: Record<string, Service>;
  configs?: Record<string, { file?: string }>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

const composeText = read(join(dockerDir, 'docker-compose.yml'));
// `merge: true`: the file shares fragments through YAML anchors and `<<` merge keys.
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services;
/** The parsed document without comments (which may name variables to explain them). */
const composeValues = JSON.stringify(compose);

/** A service's environment as compose passes it: map or KEY=VALUE list; null = from the shell. */
function environmentOf(service: Service): Record<string, string | undefined> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, undefined] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === null ? undefined : String(v)]),
  );
}

const networksOf = (s: Service): string[] =>
  Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});

function dependsOn(s: Service): Record<string, string> {
  const deps = s.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(
    Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']),
  );
}

// ---- compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$ ----

const interpolation =
  /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

interface Reference {
  name: string;
  op?: string;
  arg?: string;
}

function references(value: string): Reference[] {
  return [...value.matchAll(interpolation)]
    .filter((m) => m[0] !== '$$')
    .map((m) => ({ name: m[1] ?? m[4], op: m[2], arg: m[3] }));
}

function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    interpolation,
    (match, braced?: string, op?: string, arg?: string, bare?: string): string => {
      if (match === '$$') return '$';
      const name = (braced ?? bare) as string;
      const v = vars[name];
      const unsetOrEmpty = v === undefined || v === '';
      switch (op) {
        case ':-':
          return unsetOrEmpty ? (arg ?? '') : v;
        case '-':
          return v === undefined ? (arg ?? '') : v;
        case ':?':
        case '?':
          if (op === ':?' ? unsetOrEmpty : v === undefined) {
            throw new Error(`required variable ${name} is missing: ${arg ?? ''}`);
          }
          return v;
        case ':+':
          return unsetOrEmpty ? '' : (arg ?? '');
        case '+':
          return v === undefined ? '' : (arg ?? '');
        default:
          return v ?? '';
      }
    },
  );
}

const interpolateEnv = (
  env: Record<string, string | undefined>,
  vars: Record<string, string>,
): Record<string, string> =>
  Object.fromEntries(
    Object.entries(env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => [k, interpolate(v, vars)]),
  );

/** What an operator puts in docker/.env: plausible, freshly generated values. */
const plausible: Record<string, string> = {
  POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
  CROSSDOCK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  CROSSDOCK_AUDIT_HMAC_KEY: randomBytes(32).toString('hex'),
  CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN: randomBytes(20).toString('hex'), // 40 characters
  DC1_ERLANG_COOKIE: randomBytes(32).toString('hex'),
  DC2_ERLANG_COOKIE: randomBytes(32).toString('hex'),
};

// ---- the environment contract ----

function requiredVariables(): string[] {
  try {
    validateEnvironment({});
  } catch (err) {
    if (err instanceof EnvironmentError) return err.variables;
    throw err;
  }
  throw new Error('validateEnvironment({}) passed: the contract has no required variable');
}

// ---- Dockerfile ----

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

const dockerfileText = read(join(dockerDir, 'Dockerfile'));

function dockerfileStages(text: string): Stage[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const logical = lines
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line) as RegExpExecArray;
    if (keyword.toUpperCase() === 'FROM') {
      const [base, as, name] = args.split(/\s+/).filter((a) => !a.startsWith('--'));
      stages.push({ base, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = dockerfileStages(dockerfileText);
const finalStage = stages[stages.length - 1];
const inFinal = (keyword: string): Instruction[] =>
  finalStage.instructions.filter((i) => i.keyword === keyword);

/** ENV instructions of the final stage (KEY=value form), i.e. the image's default environment. */
function imageEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of inFinal('ENV')) {
    for (const pair of args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** The exec-form JSON array after CMD (also inside HEALTHCHECK ... CMD [...]). */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  return JSON.parse(json) as string[];
}

// ---- RabbitMQ sites ----

const rabbitNodes = Object.entries(services).filter(([, s]) => s.image?.startsWith('rabbitmq'));
const sites = new Map<string, string[]>();
for (const [name] of rabbitNodes) {
  const site = /^(dc\d+)-rabbit-\d+$/.exec(name)?.[1] ?? `(unnamed: ${name})`;
  sites.set(site, [...(sites.get(site) ?? []), name]);
}

/** Files a service mounts, target path -> file on the host (compose configs and bind mounts). */
function mountedFiles(service: Service): Map<string, string> {
  const files = new Map<string, string>();
  for (const c of service.configs ?? []) {
    const ref = typeof c === 'string' ? { source: c } : c;
    const file = compose.configs?.[ref.source]?.file;
    if (file) files.set(ref.target ?? `/${ref.source}`, resolve(dockerDir, file));
  }
  for (const v of service.volumes ?? []) {
    const [source, target] =
      typeof v === 'string' ? v.split(':') : [v.type === 'bind' ? v.source : undefined, v.target];
    if (source && /^[./~]/.test(source)) files.set(target, resolve(dockerDir, source));
  }
  return files;
}

/** rabbitmq.conf (sysctl-like `key = value` lines). */
function rabbitConf(path: string): Map<string, string> {
  const conf = new Map<string, string>();
  for (const line of read(path).split('\n')) {
    const m = /^\s*([^#=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) conf.set(m[1], m[2]);
  }
  return conf;
}

function confOf(name: string): Map<string, string> {
  const path = mountedFiles(services[name]).get('/etc/rabbitmq/rabbitmq.conf');
  if (!path) throw new Error(`${name} does not mount /etc/rabbitmq/rabbitmq.conf`);
  return rabbitConf(path);
}

interface Published {
  hostIp?: string;
  hostPorts: number[];
  target: number;
}

function publishedPorts(service: Service): Published[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      const hostPorts = p.published === undefined ? [] : portRange(String(p.published));
      return { hostIp: p.host_ip, hostPorts, target: p.target };
    }
    const parts = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const target = Number(parts.pop());
    const published = parts.pop();
    return { hostIp: parts.pop(), hostPorts: published ? portRange(published) : [], target };
  });
}

function portRange(spec: string): number[] {
  const [from, to = from] = spec.split('-').map(Number);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Every port a RabbitMQ node listens on by default (AMQP, TLS, management, dist, epmd, metrics). */
const rabbitDefaultPorts = [4369, 5671, 5672, 15671, 15672, 15692, 25672];

/** Variable names that hold secrets. */
const secretName = /PASS|SECRET|TOKEN|KEY|COOKIE/i;

// =============================================================================================

describe('docker/docker-compose.yml: the crossdock service and its environment contract', () => {
  const contract = environmentKeys();
  const required = requiredVariables();
  const crossdockEnv = environmentOf(services.crossdock);
  const migrateEnv = environmentOf(services.migrate);

  it('derives the required variables from the contract itself', () => {
    expect(required.length).toBeGreaterThan(0);
    expect(contract).toEqual(expect.arrayContaining(required));
  });

  it('sets only variables of the contract, for crossdock and for migrate', () => {
    expect(Object.keys(crossdockEnv).filter((k) => !contract.includes(k))).toEqual([]);
    expect(Object.keys(migrateEnv).filter((k) => !contract.includes(k))).toEqual([]);
  });

  it('gives crossdock every required variable, and the bootstrap token', () => {
    for (const name of [...required, 'CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN']) {
      expect({ name, value: crossdockEnv[name] }).toEqual({ name, value: expect.any(String) });
    }
  });

  it('gives migrate the same database and nothing it does not read (no key, no token)', () => {
    expect(Object.keys(migrateEnv)).toEqual(['DATABASE_URL']);
    expect(migrateEnv.DATABASE_URL).toBe(crossdockEnv.DATABASE_URL);
  });

  it('passes validateEnvironment once docker/.env holds plausible values', () => {
    // A new required variable needs a generated value in `plausible` above (and in .env.example).
    const needed = Object.values(crossdockEnv)
      .flatMap((v) => references(v ?? ''))
      .filter((r) => r.op === undefined || r.op.includes('?'))
      .map((r) => r.name);
    expect(needed.filter((name) => !(name in plausible))).toEqual([]);
    const env = { ...imageEnvironment(), ...interpolateEnv(crossdockEnv, plausible) };
    const valid = validateEnvironment(env);
    expect(valid.NODE_ENV).toBe('production');
    expect(valid.HOST).toBe('0.0.0.0');
    expect(valid.DATABASE_URL).toMatch(/^postgres:\/\/crossdock:[0-9a-f]{48}@postgres:5432\//);
    expect(publishedPorts(services.crossdock).map((p) => p.target)).toContain(valid.PORT);
  });

  it('makes compose refuse to start while a required secret is unset (${VAR:?...})', () => {
    const secrets = [...required, 'CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN'].filter((n) =>
      secretName.test(n),
    );
    expect(secrets.length).toBeGreaterThan(1);
    for (const name of secrets) {
      expect(crossdockEnv[name]).toMatch(new RegExp(`^\\$\\{${name}:\\?[^}]+\\}$`));
    }
    for (const name of required) {
      for (const ref of references(crossdockEnv[name] ?? '')) {
        const { [ref.name]: _omitted, ...without } = plausible;
        expect(() => interpolateEnv({ [name]: crossdockEnv[name] }, without)).toThrow(ref.name);
      }
    }
  });

  it('orders start-up: postgres healthy -> migrate completes -> crossdock', () => {
    expect(dependsOn(services.migrate)).toEqual({ postgres: 'service_healthy' });
    expect(dependsOn(services.crossdock)).toMatchObject({
      migrate: 'service_completed_successfully',
      postgres: 'service_healthy',
    });
    expect(services.migrate.command).toEqual(['node', 'dist/src/database/migrate.js']);
    expect(services.migrate.restart ?? 'no').toBe('no');
    expect(services.migrate.image).toBe(services.crossdock.image);
  });

  it('builds both from docker/Dockerfile with the repository as context', () => {
    for (const name of ['migrate', 'crossdock']) {
      const build = services[name].build;
      expect(build && resolve(dockerDir, build.context)).toBe(root);
      expect(existsSync(join(root, build?.dockerfile ?? 'Dockerfile'))).toBe(true);
    }
  });

  it('runs Postgres 15 with a pg_isready healthcheck and a volume, on the control network only', () => {
    const pg = services.postgres;
    expect(pg.image).toBe('postgres:15');
    expect([pg.healthcheck?.test].flat().join(' ')).toContain('pg_isready');
    expect(pg.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\w[\w-]*:\/var\/lib\/postgresql\/data$/)]),
    );
    expect(networksOf(pg)).toEqual(['control']);
    expect(networksOf(services.crossdock)).toContain('control');
  });
});

describe('docker/docker-compose.yml: no committed secrets', () => {
  it('takes secret-named variables only from interpolation, with no default value', () => {
    for (const [service, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(environmentOf(s))) {
        if (!secretName.test(key)) continue;
        const refs = references(value ?? '');
        expect({ service, key, value, refs: refs.length }).toEqual({
          service,
          key,
          value: expect.stringMatching(/^\$\{[^}]+\}$/),
          refs: 1,
        });
        expect({ service, key, default: refs[0].op?.includes('-') ? refs[0].arg : '' }).toEqual({
          service,
          key,
          default: '',
        });
      }
    }
  });

  it('puts only interpolated passwords in URLs', () => {
    for (const [service, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(environmentOf(s))) {
        const password = /:\/\/[^/@:\s]+:([^@\s]+)@/.exec(value ?? '')?.[1];
        if (password === undefined) continue;
        expect({ service, key, password }).toEqual({
          service,
          key,
          password: expect.stringMatching(/^\$\{[A-Za-z_][A-Za-z0-9_]*(:\?[^}]*)?\}$/),
        });
      }
    }
  });

  it('contains nothing that looks like a key, a token or a cookie', () => {
    expect(composeText).not.toMatch(/[A-Za-z0-9+/]{40,}={0,2}/); // base64 keys
    expect(composeText).not.toMatch(/\b[0-9a-f]{24,}\b/i); // hex tokens, cookies
    expect(composeValues).not.toMatch(/RABBITMQ_ERLANG_COOKIE|-setcookie|RABBITMQ_DEFAULT_PASS/);
  });

  it('creates secrets from docker/.env, never from committed files', () => {
    for (const [name, secret] of Object.entries(compose.secrets ?? {})) {
      expect({ name, file: secret.file, environment: secret.environment }).toEqual({
        name,
        file: undefined,
        environment: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/),
      });
    }
  });

  it('documents every variable in docker/.env.example, with the secrets left empty', () => {
    const example = new Map(
      read(join(dockerDir, '.env.example'))
        .split('\n')
        .map((l) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const used = new Set([
      ...references(composeValues).map((r) => r.name),
      ...Object.values(compose.secrets ?? {}).flatMap((s) => s.environment ?? []),
    ]);
    expect([...used].filter((v) => !example.has(v))).toEqual([]);
    expect([...example.keys()].filter((v) => !used.has(v))).toEqual([]);
    for (const [key, value] of example) {
      if (secretName.test(key)) expect({ key, value }).toEqual({ key, value: '' });
    }
    // docker/.env (the filled-in copy) must stay out of git and out of the build context.
    expect(read(join(root, '.gitignore')).split('\n')).toContain('.env');
    expect(read(join(root, '.dockerignore')).split('\n')[0]).not.toMatch(/^!/);
    expect(read(join(root, '.dockerignore')).split('\n')).toContain('*');
  });
});

describe('docker/docker-compose.yml: two 3-node RabbitMQ sites', () => {
  const plugins = [
    'rabbitmq_management',
    'rabbitmq_federation',
    'rabbitmq_federation_management',
    'rabbitmq_shovel',
    'rabbitmq_shovel_management',
  ];

  it('has sites dc1 and dc2 of three rabbitmq:3.10-management nodes, hostname = service name', () => {
    expect([...sites.keys()].sort()).toEqual(['dc1', 'dc2']);
    for (const [site, nodes] of sites) {
      expect(nodes.sort()).toEqual([1, 2, 3].map((n) => `${site}-rabbit-${n}`));
    }
    for (const [name, s] of rabbitNodes) {
      expect({ name, image: s.image, hostname: s.hostname }).toEqual({
        name,
        image: 'rabbitmq:3.10-management',
        hostname: name,
      });
    }
  });

  it('gives each site one cluster name, distinct from the other site', () => {
    const names = new Map<string, string>();
    for (const [site, nodes] of sites) {
      const perNode = new Set(nodes.map((n) => confOf(n).get('cluster_name')));
      expect([...perNode]).toEqual([`crossdock-${site}`]);
      names.set(site, `crossdock-${site}`);
    }
    expect(new Set(names.values()).size).toBe(sites.size);
  });

  it('configures remote guest login, 1 s statistics and classic-config peer discovery', () => {
    for (const [site, nodes] of sites) {
      for (const node of nodes) {
        const conf = confOf(node);
        expect({ node, loopback: conf.get('loopback_users') }).toEqual({ node, loopback: 'none' });
        expect(conf.get('collect_statistics_interval')).toBe('1000');
        expect(conf.get('cluster_formation.peer_discovery_backend')).toBe('classic_config');
        const peers = [...conf]
          .filter(([k]) => k.startsWith('cluster_formation.classic_config.nodes.'))
          .map(([, v]) => v);
        expect(peers).toContain(`rabbit@${site}-rabbit-1`);
        for (const peer of peers) expect(nodes.map((n) => `rabbit@${n}`)).toContain(peer);
      }
    }
  });

  it('starts followers after the seed without a health gate (a restart would deadlock)', () => {
    for (const [site, nodes] of sites) {
      for (const node of nodes.filter((n) => n !== `${site}-rabbit-1`)) {
        expect(dependsOn(services[node])).toEqual({ [`${site}-rabbit-1`]: 'service_started' });
      }
    }
  });

  it('mounts docker/rabbitmq/enabled_plugins with the five plugins on every node', () => {
    for (const [name, s] of rabbitNodes) {
      const path = mountedFiles(s).get('/etc/rabbitmq/enabled_plugins');
      expect({ name, path }).toEqual({
        name,
        path: join(dockerDir, 'rabbitmq', 'enabled_plugins'),
      });
      const list = /^\s*\[([^\]]*)\]\s*\.\s*$/.exec(read(path as string))?.[1] ?? '';
      expect(list.split(',').map((p) => p.trim())).toEqual(expect.arrayContaining(plugins));
    }
  });

  it('shares one Erlang cookie file per site, a different one per site', () => {
    const cookieBySite = new Map<string, Set<string>>();
    for (const [site, nodes] of sites) {
      for (const node of nodes) {
        const s = services[node];
        const cookie = (s.secrets ?? [])
          .map((c) => (typeof c === 'string' ? { source: c, target: c } : c))
          .find((c) => c.target === 'erlang_cookie');
        expect({ node, cookie: cookie?.source }).toEqual({ node, cookie: expect.any(String) });
        expect([s.entrypoint].flat().join(' ')).toContain('/run/secrets/erlang_cookie');
        expect([s.entrypoint].flat().join(' ')).toContain('/var/lib/rabbitmq/.erlang.cookie');
        expect(environmentOf(s)).not.toHaveProperty('RABBITMQ_ERLANG_COOKIE');
        const seen = cookieBySite.get(site) ?? new Set<string>();
        cookieBySite.set(site, seen.add(cookie?.source as string));
      }
    }
    const perSite = [...cookieBySite.values()].map((s) => [...s]);
    expect(perSite.map((s) => s.length)).toEqual([1, 1]);
    expect(new Set(perSite.flat()).size).toBe(2);
    const vars = perSite.flat().map((source) => compose.secrets?.[source]?.environment);
    expect(new Set(vars).size).toBe(2);
  });

  it('starts Erlang with non-spinning schedulers', () => {
    for (const [name, s] of rabbitNodes) {
      const args = (environmentOf(s).RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS ?? '').split(/\s+/);
      const flags = args.join(' ');
      for (const flag of ['+sbwt none', '+sbwtdcpu none', '+sbwtdio none']) {
        expect({ name, flags }).toEqual({ name, flags: expect.stringContaining(flag) });
      }
    }
  });

  it('publishes no RabbitMQ default port on the host, and nothing beyond loopback', () => {
    for (const [name, s] of rabbitNodes) {
      for (const p of publishedPorts(s)) {
        expect({
          name,
          hostPorts: p.hostPorts.filter((h) => rabbitDefaultPorts.includes(h)),
        }).toEqual({ name, hostPorts: [] });
        expect({ name, hostIp: p.hostIp }).toEqual({ name, hostIp: '127.0.0.1' });
      }
    }
  });

  it('puts each site on its own network plus wan; crossdock reaches both sites', () => {
    for (const [site, nodes] of sites) {
      for (const node of nodes) {
        expect({ node, networks: networksOf(services[node]).sort() }).toEqual({
          node,
          networks: [site, 'wan'].sort(),
        });
      }
    }
    expect(networksOf(services.crossdock)).toEqual(expect.arrayContaining([...sites.keys()]));
    for (const name of ['postgres', 'migrate']) {
      expect(networksOf(services[name])).not.toContain('wan');
    }
  });
});

describe('docker/Dockerfile', () => {
  it('is multi-stage on node:20-bookworm-slim: deps (npm ci), build, runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const names = stages.map((s) => s.name);
    for (const stage of stages) {
      expect(['node:20-bookworm-slim', ...names]).toContain(stage.base);
    }
    const runs = (s: Stage): string =>
      s.instructions
        .filter((i) => i.keyword === 'RUN')
        .map((i) => i.args)
        .join('\n');
    expect(runs(stages[0])).toMatch(/npm ci(?! .*--omit)/);
    expect(stages.some((s) => /npm run build/.test(runs(s)))).toBe(true);
  });

  it('builds the runtime fresh from the base image with production dependencies and dist/ only', () => {
    expect(finalStage.base).toBe('node:20-bookworm-slim');
    expect(inFinal('RUN').map((i) => i.args)).toEqual(
      expect.arrayContaining([expect.stringMatching(/npm ci .*--omit=dev/)]),
    );
    const copies = inFinal('COPY').map((i) => i.args);
    expect(copies).toEqual(
      expect.arrayContaining([expect.stringMatching(/^--from=\S+ \/app\/dist \.\/dist$/)]),
    );
    for (const copy of copies.filter((c) => !c.startsWith('--from'))) {
      expect(copy).toMatch(/^package\.json package-lock\.json \.\/$/);
    }
  });

  it('runs as a non-root user in the final stage', () => {
    const users = inFinal('USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users[users.length - 1]);
    const lastUser = finalStage.instructions.map((i) => i.keyword).lastIndexOf('USER');
    const after = finalStage.instructions.slice(lastUser + 1).map((i) => i.keyword);
    expect(after).not.toContain('RUN');
  });

  it('has a HEALTHCHECK probing /health/live with node (the slim image has no curl)', () => {
    const [healthcheck] = inFinal('HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    const probe = execForm(healthcheck.args.slice(healthcheck.args.indexOf(' CMD ')));
    expect(probe[0]).toBe('node');
    expect(probe.join(' ')).toContain('/health/live');
    expect(probe.join(' ')).not.toMatch(/curl|wget/);
  });

  it('starts the service with node, production settings, port 3000', () => {
    const [cmd] = inFinal('CMD');
    expect(execForm(cmd.args)).toEqual(['node', 'dist/src/main.js']);
    expect(inFinal('EXPOSE').map((i) => i.args)).toContain('3000');
    expect(imageEnvironment()).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
  });

  it('documents the migration step and points both commands at real entry points', () => {
    expect(dockerfileText).toContain('node dist/src/database/migrate.js');
    const pkg = JSON.parse(read(join(root, 'package.json'))) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node dist/src/main.js');
    expect(pkg.scripts.migrate).toBe('node dist/src/database/migrate.js');
    expect(existsSync(join(root, 'src/main.ts'))).toBe(true);
    expect(existsSync(join(root, 'src/database/migrate.ts'))).toBe(true);
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignore = read(join(root, '.dockerignore')).split('\n');
    const sources = stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect({ source, exists: existsSync(join(root, source)) }).toEqual({ source, exists: true });
      expect({ source, allowed: ignore.includes(`!${source}`) }).toEqual({ source, allowed: true });
    }
  });
});
