import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainException } from '../common/errors/domain.exception';
import { ErrorCode } from '../common/errors/error-codes';
import { requestContext } from '../common/context/request-context';
import { isPublicKey } from '../common/http/public.decorator';
import { requiredRoleKey } from '../common/access/access.decorators';
import { type Actor, type Role, roleAllows } from '../common/actor/actor';
import { TokensService } from './tokens.service';

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Bearer-token authentication and role check for every non-public route. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(isPublicKey, targets)) return true;
    const req = ctx
      .switchToHttp()
      .getRequest<{ method: string; headers: Record<string, unknown>; actor?: Actor }>();
    const header = req.headers['authorization'];
    const m =
      typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(header) : null;
    if (!m) {
      throw new DomainException(
        ErrorCode.Unauthenticated,
        401,
        'Unauthenticated',
        'Send an API token as `Authorization: Bearer <token>`',
      );
    }
    const actor = await this.tokens.authenticate(m[1]);
    if (!actor || actor.kind !== 'token') {
      throw new DomainException(
        ErrorCode.Unauthenticated,
        401,
        'Unauthenticated',
        'The API token is unknown, revoked or expired',
      );
    }
    const needed: Role =
      this.reflector.getAllAndOverride<Role>(requiredRoleKey, targets) ??
      (readMethods.has(req.method) ? 'viewer' : 'admin');
    if (!roleAllows(actor.role, needed)) {
      throw new DomainException(
        ErrorCode.Forbidden,
        403,
        'Forbidden',
        `This action needs the ${needed} role`,
      );
    }
    req.actor = actor;
    const context = requestContext.current();
    if (context) context.actor = actor;
    return true;
  }
}
