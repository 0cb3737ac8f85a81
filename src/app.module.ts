import { MiddlewareConsumer, Module, NestModule, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { LoggerModule } from 'nestjs-pino';
import { AuditModule } from './audit/audit.module';
import { JsonBodyMiddleware } from './common/http/json-body.middleware';
import { RateLimitMiddleware, RateLimits } from './common/limits/limits.middleware';
import { WriteAdmissionInterceptor } from './common/limits/write-admission.interceptor';
import { RequestContextMiddleware } from './common/context/request-context.middleware';
import { AuthModule } from './auth/auth.module';
import { ClustersModule } from './clusters/clusters.module';
import { CryptoModule } from './common/crypto/crypto.module';
import { DefinitionsModule } from './definitions/definitions.module';
import { LoadBalancersModule } from './load-balancers/load-balancers.module';
import { LinksModule } from './links/links.module';
import { ObservationModule } from './observation/observation.module';
import { PoliciesModule } from './policies/policies.module';
import { TopologyModule } from './topology/topology.module';
import { OverflowModule } from './overflow/overflow.module';
import { ProbesModule } from './probes/probes.module';
import { RegistryConflictCheckModule } from './reconciliation/conflict-check';
import { ReconciliationModule } from './reconciliation/reconciliation.module';
import { SitesModule } from './sites/sites.module';
import { loggerOptions } from './common/logging/logger.options';
import { ProblemDetailsFilter } from './common/errors/problem-details.filter';
import { validationExceptionFactory } from './common/errors/validation';
import { AppConfig, AppConfigModule } from './config/config.module';
import { entities } from './entities';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';

@Module({
  imports: [
    AppConfigModule,
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (env: AppConfig) => loggerOptions(env.LOG_LEVEL, env.LOG_FILE),
    }),
    DatabaseModule.forRoot(entities),
    ScheduleModule.forRoot(),
    MetricsModule,
    HealthModule,
    CryptoModule,
    AuditModule,
    AuthModule,
    SitesModule,
    LoadBalancersModule,
    ClustersModule,
    LinksModule,
    PoliciesModule,
    TopologyModule,
    ObservationModule,
    ReconciliationModule,
    DefinitionsModule,
    ProbesModule,
    OverflowModule,
    RegistryConflictCheckModule,
  ],
  providers: [
    RateLimits,
    { provide: APP_FILTER, useClass: ProblemDetailsFilter },
    // Bound to the write handlers only, by configureApp (bindWriteAdmission).
    WriteAdmissionInterceptor,
    {
      provide: APP_PIPE,
      useValue: new ValidationPipe({
        whitelist: true,
        forbidNonWhitelisted: true,
        transform: true,
        exceptionFactory: validationExceptionFactory,
      }),
    },
  ],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Limits first: a refused request costs no validation, no token lookup, no connection.
    consumer
      .apply(RequestContextMiddleware, RateLimitMiddleware, JsonBodyMiddleware)
      .forRoutes('*path');
  }
}
