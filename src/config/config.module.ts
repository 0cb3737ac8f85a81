import { Global, Module } from '@nestjs/common';
import { EnvironmentVariables, validateEnvironment } from './environment';

/** Injection token for the validated, typed environment. */
export abstract class AppConfig extends EnvironmentVariables {}

/**
 * The environment is validated when the app is instantiated, not when this file is imported
 * (as `ConfigModule.forRoot` would do): in-process test apps can then run side by side with
 * different settings, e.g. a private Postgres that a test stops. Global on purpose: every
 * module reads the environment.
 */
@Global()
@Module({
  providers: [
    {
      provide: AppConfig,
      useFactory: (): EnvironmentVariables => validateEnvironment(process.env),
    },
  ],
  exports: [AppConfig],
})
export class AppConfigModule {}
