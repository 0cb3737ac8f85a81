import { Global, Injectable, Module } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CryptoModule } from '../common/crypto/crypto.module';
import { SecretBox } from '../common/crypto/secret-box';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { linearRegex } from '../common/linear-regex';
import { RegistryConflictCheck } from '../common/registry-conflicts';
import { AppConfig } from '../config/config.module';
import { compileCluster, type CompileConflict, type RegistrySnapshot } from './compile';
import {
  clusterExists,
  clusterLabel,
  federationLinkName,
  lockForValidation,
  policyName,
} from './conflict-check.repository';
import { loadKnownNames } from './known-objects';
import { loadSnapshot } from './registry-snapshot';

/** Transaction-scoped advisory lock serialising validated registry changes. */
const validationLockKey = 0x63_64_6b_76; // "cdkv"

interface ClusterConflict extends CompileConflict {
  clusterId: string;
  /** Known object names the conflicting sources both cover (a sample). */
  objects: string[];
}

export interface ConflictSourceView {
  kind: 'policy' | 'federation-link' | 'replication' | 'guard';
  id: string | null;
  name: string;
  value: unknown;
}

export interface ConflictView {
  clusterId: string;
  cluster: string;
  vhost: string;
  applyTo: 'queues' | 'exchanges';
  key: string;
  priority: number;
  objects: string[];
  sources: ConflictSourceView[];
}

/** A conflict is new when its sources or their values are (an unrelated edit passes). */
const identity = (c: ClusterConflict) =>
  [
    c.clusterId,
    c.vhost,
    c.applyTo,
    c.key,
    c.sources
      .map((src, i) => `${src}=${JSON.stringify(c.values[i])}`)
      .sort()
      .join(','),
  ].join('\u0001');

/**
 * Names that exist or that the registry names: the last observed exchanges and queues, plus
 * link targets and shovel queues (the "names only" fallback for a cluster never observed).
 */
export function withRegistryNames(s: RegistrySnapshot): RegistrySnapshot {
  const known: RegistrySnapshot['known'] = {};
  const add = (vhost: string, kind: 'queues' | 'exchanges', names: (string | null)[]) => {
    const k = (known[vhost] ??= { queues: [], exchanges: [] });
    for (const n of names) if (n && !k[kind].includes(n)) k[kind].push(n);
  };
  for (const [vhost, k] of Object.entries(s.known)) {
    add(vhost, 'queues', k.queues);
    add(vhost, 'exchanges', k.exchanges);
  }
  const me = s.cluster.id;
  for (const l of s.federationLinks) {
    const kind = l.kind === 'exchange' ? 'exchanges' : 'queues';
    if (l.downstreamClusterId === me) add(l.downstreamVhost, kind, l.targets);
    if (l.upstreamClusterId === me)
      add(l.upstreamVhost, kind, l.upstreamObject ? [l.upstreamObject] : l.targets);
  }
  for (const sh of s.shovels) add(sh.sourceVhost, 'queues', [sh.sourceQueue]);
  return { ...s, known };
}

/** Pure: the distinct conflicts of one compiled cluster, each with a sample of its objects. */
export function clusterConflicts(s: RegistrySnapshot): ClusterConflict[] {
  const seen = new Map<string, ClusterConflict>();
  for (const c of compileCluster(s).conflicts) {
    const re = linearRegex(c.pattern);
    const names = s.known[c.vhost]?.[c.applyTo] ?? [];
    const cc: ClusterConflict = {
      ...c,
      clusterId: s.cluster.id,
      objects: re ? names.filter((n) => re.test(n)).slice(0, 5) : [],
    };
    if (!seen.has(identity(cc))) seen.set(identity(cc), cc);
  }
  return [...seen.values()];
}

@Injectable()
export class CompileConflictCheck extends RegistryConflictCheck {
  constructor(
    private readonly box: SecretBox,
    private readonly env: AppConfig,
  ) {
    super();
  }

  async around<T>(m: EntityManager, clusterIds: string[], change: () => Promise<T>): Promise<T> {
    await lockForValidation(m, validationLockKey);
    const ids = [...new Set(clusterIds)];
    const before = new Set<string>();
    for (const id of ids) for (const c of await this.conflicts(m, id)) before.add(identity(c));
    const result = await change();
    const introduced: ClusterConflict[] = [];
    for (const id of ids)
      for (const c of await this.conflicts(m, id)) if (!before.has(identity(c))) introduced.push(c);
    if (introduced.length) throw await this.refusal(m, introduced);
    return result;
  }

  private async conflicts(m: EntityManager, clusterId: string): Promise<ClusterConflict[]> {
    if (!(await clusterExists(m, clusterId))) return [];
    const snapshot = await loadSnapshot(
      m,
      this.box,
      clusterId,
      await loadKnownNames(m, clusterId),
      this.env.LINK_USER_NAME,
      this.env.FEDERATION_QUEUE_MAX_BYTES,
      { placeholderCredentials: true },
    );
    return clusterConflicts(withRegistryNames(snapshot));
  }

  private async refusal(m: EntityManager, list: ClusterConflict[]): Promise<DomainException> {
    const views: ConflictView[] = [];
    for (const c of list) {
      const clusterName = (await clusterLabel(m, c.clusterId)) ?? c.clusterId;
      const sources: ConflictSourceView[] = [];
      for (const [i, id] of c.sources.entries())
        sources.push({ ...(await this.describe(m, id, clusterName)), value: c.values[i] });
      views.push({
        clusterId: c.clusterId,
        cluster: clusterName,
        vhost: c.vhost,
        applyTo: c.applyTo,
        key: c.key,
        priority: c.priority,
        objects: c.objects,
        sources,
      });
    }
    const first = views[0];
    const on = first.objects.length
      ? `${first.applyTo} ${first.objects.map((o) => JSON.stringify(o)).join(', ')}`
      : `the same ${first.applyTo}`;
    const detail =
      `${first.sources[0].name} sets ${first.key}=${JSON.stringify(first.sources[0].value)} and ` +
      `${first.sources[1].name} sets ${first.key}=${JSON.stringify(first.sources[1].value)} ` +
      `at the same priority ${first.priority} on ${on} in vhost ${JSON.stringify(first.vhost)} of cluster ${first.cluster}: ` +
      `only one value can apply; give one of them another priority, the same value, or a pattern that does not overlap` +
      (views.length > 1 ? ` (and ${views.length - 1} more conflict(s), see conflicts)` : '');
    return DomainException.conflict(ErrorCode.PolicyConflict, detail, { conflicts: views });
  }

  private async describe(
    m: EntityManager,
    source: string,
    clusterName: string,
  ): Promise<Omit<ConflictSourceView, 'value'>> {
    const [kind, ...rest] = source.split(':');
    const ref = rest.join(':');
    if (kind === 'policy') {
      const name = (await policyName(m, ref)) ?? ref;
      return { kind: 'policy', id: ref, name: `policy ${JSON.stringify(name)}` };
    }
    if (kind === 'link') {
      const name = (await federationLinkName(m, ref)) ?? ref;
      return { kind: 'federation-link', id: ref, name: `federation link ${JSON.stringify(name)}` };
    }
    if (kind === 'replication')
      return {
        kind: 'replication',
        id: null,
        name: `the replication rule ${JSON.stringify(ref)} of cluster ${clusterName}`,
      };
    return {
      kind: 'guard',
      id: null,
      name: `the federation backlog guard of cluster ${clusterName}`,
    };
  }
}

/**
 * Provides the check to every feature module (they know only the token). Global on purpose: the
 * token is a port declared in common/ and this is its adapter; features inject the token and so
 * never depend on reconciliation/ (which depends on them).
 */
@Global()
@Module({
  imports: [CryptoModule],
  providers: [{ provide: RegistryConflictCheck, useClass: CompileConflictCheck }],
  exports: [RegistryConflictCheck],
})
export class RegistryConflictCheckModule {}
