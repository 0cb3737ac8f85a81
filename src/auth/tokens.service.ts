import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DomainException } from '../common/errors/domain.exception';
import type { Page, PageQueryDto } from '../common/http/pagination';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/config.module';
import { ApiTokenEntity } from './api-token.entity';
import { type Actor, isReservedActorName, reservedActorNames } from '../common/actor/actor';
import { hashToken, newTokenSecret } from './token-secret';
import type { CreatedTokenView, CreateTokenDto, TokenView } from './tokens.dto';
import {
  insertToken,
  liveAdminTokenExists,
  liveTokenByHash,
  lockTokenForUpdate,
  markTokenRevoked,
  pageOfTokens,
  touchTokenLastUsed,
} from './tokens.repository';

interface CachedLookup {
  actor: Actor | null;
  until: number;
}

/**
 * The token cache: a lookup (found or not) is kept this many ms, so a request costs a hash and a
 * map read instead of a query. Revocation clears this replica's cache at once; other replicas
 * see it within this TTL. Expiry is exact: a cached token is never served past its expiresAt.
 */
export const tokenCacheTtlMs = 5000;
/** Lookups kept at most; past it the least recently used go first (made-up tokens cannot flush it). */
export const tokenCacheMax = 10000;

const bootstrapActor: Actor = {
  kind: 'token',
  tokenId: null,
  name: 'bootstrap-admin',
  role: 'admin',
};

function view(t: ApiTokenEntity): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    prefix: t.prefix,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
  };
}

@Injectable()
export class TokensService {
  private readonly cache = new Map<string, CachedLookup>();
  private readonly bootstrapHash?: Buffer;
  private readonly bootstrapExpiresAt?: number;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly env: AppConfig,
    private readonly audit: AuditService,
  ) {
    if (env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN)
      this.bootstrapHash = hashToken(env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN);
    if (env.CROSSDOCK_BOOTSTRAP_EXPIRES_AT)
      this.bootstrapExpiresAt = Date.parse(env.CROSSDOCK_BOOTSTRAP_EXPIRES_AT);
  }

  /**
   * The bootstrap token exists to create the first real tokens: it stops at its optional
   * expiry, and (unless CROSSDOCK_BOOTSTRAP_AFTER_ADMIN=allow) as soon as a real
   * admin token is usable. Checked on every use, never cached: it is rare and must stop at once.
   */
  private async bootstrapUsable(): Promise<boolean> {
    if (this.bootstrapExpiresAt !== undefined && Date.now() >= this.bootstrapExpiresAt)
      return false;
    if (this.env.CROSSDOCK_BOOTSTRAP_AFTER_ADMIN === 'allow') return true;
    return !(await liveAdminTokenExists(this.ds));
  }

  /** Resolves a presented secret to an actor, or null. Only hashes are compared and cached. */
  async authenticate(secret: string): Promise<Actor | null> {
    const hash = hashToken(secret);
    if (this.bootstrapHash && timingSafeEqual(hash, this.bootstrapHash)) {
      return (await this.bootstrapUsable()) ? bootstrapActor : null;
    }
    const key = hash.toString('hex');
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) {
      // Most recently used last: eviction takes the oldest first.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.actor;
    }
    const row = await liveTokenByHash(this.ds, hash);
    const live = row && !(row.expiresAt && row.expiresAt.getTime() <= now);
    const actor: Actor | null = live
      ? { kind: 'token', tokenId: row.id, name: row.name, role: row.role }
      : null;
    this.cache.delete(key);
    while (this.cache.size >= tokenCacheMax) {
      const oldest = this.cache.keys().next();
      if (oldest.done) break;
      this.cache.delete(oldest.value);
    }
    const expires = row?.expiresAt?.getTime() ?? Infinity;
    this.cache.set(key, { actor, until: Math.min(now + tokenCacheTtlMs, expires) });
    if (row && (!row.lastUsedAt || now - row.lastUsedAt.getTime() > 60000)) {
      // Throttled, fire-and-forget: a usage timestamp is not worth failing a request over.
      void touchTokenLastUsed(this.ds, row.id).catch(() => undefined);
    }
    return actor;
  }

  async create(dto: CreateTokenDto): Promise<CreatedTokenView> {
    if (isReservedActorName(dto.name)) {
      throw DomainException.validation(
        [
          {
            field: 'name',
            message: `name is reserved for the service's own actors (${reservedActorNames.join(', ')})`,
          },
        ],
        'Token name is reserved',
      );
    }
    const { secret, prefix } = newTokenSecret();
    return this.ds.transaction(async (m) => {
      const repo = m.getRepository(ApiTokenEntity);
      const id = await insertToken(m, {
        name: dto.name,
        role: dto.role,
        prefix,
        tokenHash: hashToken(secret),
        expiresAt: dto.expiresAt ?? null,
      });
      const after = view(await repo.findOneByOrFail({ id }));
      await this.audit.record(m, {
        action: 'token.create',
        resourceType: 'token',
        resourceId: id,
        resourceName: after.name,
        after,
      });
      return { ...after, token: secret };
    });
  }

  list(query: PageQueryDto): Promise<Page<TokenView>> {
    return pageOfTokens(this.ds, query, view);
  }

  async get(id: string): Promise<TokenView> {
    const row = await this.ds.getRepository(ApiTokenEntity).findOneBy({ id });
    if (!row) throw DomainException.notFound('token', id);
    return view(row);
  }

  /** Revocation keeps the row (who had access when) and stops the secret from working. */
  async revoke(id: string): Promise<TokenView> {
    const after = await this.ds.transaction(async (m) => {
      const repo = m.getRepository(ApiTokenEntity);
      const row = await lockTokenForUpdate(m, id);
      if (!row) throw DomainException.notFound('token', id);
      if (row.revokedAt) return view(row);
      const before = view(row);
      await markTokenRevoked(m, id);
      const revoked = view(await repo.findOneByOrFail({ id }));
      await this.audit.record(m, {
        action: 'token.revoke',
        resourceType: 'token',
        resourceId: id,
        resourceName: row.name,
        before,
        after: revoked,
      });
      return revoked;
    });
    this.cache.clear();
    return after;
  }
}
