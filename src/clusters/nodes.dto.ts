import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsIn, IsString, Matches, MaxLength } from 'class-validator';
import { Optional, IsHost, IsPort } from '../common/dto/validators';
import { CredentialsDto, RebindCredentials } from './cluster-credentials.dto';

export class NodeDto {
  @ApiProperty({ example: 'rabbit@dc1-node-1', description: 'Erlang node name' })
  @IsString()
  @MaxLength(255)
  @Matches(/^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$/, {
    message: 'name must be an Erlang node name like rabbit@host',
  })
  name!: string;

  @ApiProperty({ example: '10.0.1.11' })
  @IsHost()
  host!: string;

  @ApiProperty({ example: 5672 })
  @IsPort()
  amqpPort!: number;

  @ApiProperty({ example: 15672 })
  @IsPort()
  managementPort!: number;

  @ApiPropertyOptional({ enum: ['disc', 'ram'], default: 'disc' })
  @Optional()
  @IsIn(['disc', 'ram'])
  type?: 'disc' | 'ram';
}

/** Adding a node adds an endpoint the admin credentials would be sent to. */
export class AddNodeDto extends NodeDto {
  @RebindCredentials()
  credentials?: CredentialsDto;
}

export class UpdateNodeDto extends PartialType(NodeDto, { skipNullProperties: false }) {
  @RebindCredentials()
  credentials?: CredentialsDto;
}

export class NodeView {
  @ApiProperty() id!: string;
  @ApiProperty() clusterId!: string;
  @ApiProperty() name!: string;
  @ApiProperty() host!: string;
  @ApiProperty() amqpPort!: number;
  @ApiProperty() managementPort!: number;
  @ApiProperty({ enum: ['disc', 'ram'] }) type!: 'disc' | 'ram';
  @ApiProperty() version!: number;
}
