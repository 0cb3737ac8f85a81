import { Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { environmentKeys, EnvironmentVariables, validateEnvironment } from './environment';

/** Injection token for the validated, typed environment. */
export abstract class AppConfig extends EnvironmentVariables {}

@Global()
@Module({
  imports: [
    ConfigModule.forRoot({
      isGlobal: true,
      ignoreEnvFile: true,
      cache: true,
      validate: (raw) => ({ ...validateEnvironment(raw) }),
    }),
  ],
  providers: [
    {
      provide: AppConfig,
      inject: [ConfigService],
      useFactory: (cs: ConfigService): EnvironmentVariables =>
        validateEnvironment(
          Object.fromEntries(environmentKeys().map((k) => [k, cs.get<unknown>(k)])),
        ),
    },
  ],
  exports: [AppConfig],
})
export class AppConfigModule {}
