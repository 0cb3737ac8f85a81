import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { linkFilePattern } from '../broker/link-tls';
import { Optional, IsHost } from '../common/dto/validators';

export class LinkTlsFilesDto {
  @ApiProperty({
    example: '/etc/rabbitmq/tls/ca-bundle.pem',
    description:
      'CA bundle on the nodes of this cluster that links it runs verify the remote cluster with (cacertfile)',
  })
  @IsString()
  @Matches(linkFilePattern, {
    message: '$property must be an absolute path of letters, digits and . _ / -',
  })
  caCertFile!: string;

  @ApiPropertyOptional({
    example: '/etc/rabbitmq/tls/client.pem',
    description: 'Client certificate the links present (certfile); with keyFile',
  })
  @Optional()
  @IsString()
  @Matches(linkFilePattern, {
    message: '$property must be an absolute path of letters, digits and . _ / -',
  })
  certFile?: string;

  @ApiPropertyOptional({ example: '/etc/rabbitmq/tls/client.key', description: 'keyfile' })
  @Optional()
  @IsString()
  @Matches(linkFilePattern, {
    message: '$property must be an absolute path of letters, digits and . _ / -',
  })
  keyFile?: string;
}

export class ClusterTlsDto {
  @ApiProperty({
    description:
      "PEM bundle of the CA certificates that sign this cluster's certificates (list both CAs during a CA rotation)",
  })
  @IsString()
  @MinLength(1)
  @MaxLength(65536)
  caBundle!: string;

  @ApiPropertyOptional({
    example: 'rabbit.dc1.example.net',
    description:
      'Name sent as SNI and checked in the certificates (management, AMQPS, links); the connection host when absent',
  })
  @Optional()
  @IsHost()
  serverName?: string;

  @ApiPropertyOptional({
    description: 'Client certificate (PEM) crossdock presents; with clientKey',
  })
  @Optional()
  @IsString()
  @MaxLength(65536)
  clientCertificate?: string;

  @ApiPropertyOptional({
    writeOnly: true,
    description: 'Private key (PEM) of the client certificate; stored encrypted, never returned',
  })
  @Optional()
  @IsString()
  @MaxLength(65536)
  clientKey?: string;

  @ApiPropertyOptional({
    type: LinkTlsFilesDto,
    description:
      "Files on this cluster's nodes that amqps link URIs it runs name (federation downstream, shovel source)",
  })
  @Optional()
  @IsObject()
  @ValidateNested()
  @Type(() => LinkTlsFilesDto)
  linkFiles?: LinkTlsFilesDto;
}

export class LinkTlsFilesView {
  @ApiProperty() caCertFile!: string;
  @ApiProperty({ nullable: true, type: String }) certFile!: string | null;
  @ApiProperty({ nullable: true, type: String }) keyFile!: string | null;
}

export class ClusterTlsView {
  @ApiProperty({ description: 'PEM CA bundle' }) caBundle!: string;
  @ApiProperty({ nullable: true, type: String }) serverName!: string | null;
  @ApiProperty({ nullable: true, type: String }) clientCertificate!: string | null;
  @ApiProperty({ description: 'A client key is stored (the key itself is never returned)' })
  clientKeySet!: boolean;
  @ApiProperty({ type: LinkTlsFilesView, nullable: true }) linkFiles!: LinkTlsFilesView | null;
}
