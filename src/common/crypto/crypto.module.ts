import { Module } from '@nestjs/common';
import { AppConfig } from '../../config/config.module';
import { SecretBox } from './secret-box';

@Module({
  providers: [
    {
      provide: SecretBox,
      inject: [AppConfig],
      useFactory: (env: AppConfig) =>
        new SecretBox(
          env.CROSSDOCK_ENCRYPTION_KEY,
          env.CROSSDOCK_ENCRYPTION_KEYS_PREVIOUS?.split(',').filter(Boolean) ?? [],
        ),
    },
  ],
  exports: [SecretBox],
})
export class CryptoModule {}
