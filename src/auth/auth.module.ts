import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { AuthGuard } from './auth.guard';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

@Module({
  imports: [AuditModule],
  providers: [TokensService, { provide: APP_GUARD, useClass: AuthGuard }],
  controllers: [TokensController],
  exports: [TokensService],
})
export class AuthModule {}
