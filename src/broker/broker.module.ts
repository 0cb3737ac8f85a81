import { Module } from '@nestjs/common';
import { BrokerGateway } from './broker-gateway';

/** The broker gateway, for the modules that reach brokers (import it where it is used). */
@Module({ providers: [BrokerGateway], exports: [BrokerGateway] })
export class BrokerModule {}
