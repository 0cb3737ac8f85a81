import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsIP,
  IsObject,
  IsString,
  IsUUID,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { IsDnsLabel, IsHost, IsPort, Optional } from '../common/dto/validators';

export class LoadBalancerHostDto {
  @ApiProperty({ example: 'lb1', description: 'Host name (DNS label), unique in the site' })
  @IsDnsLabel()
  name!: string;

  @ApiProperty({ example: '10.0.1.11', description: 'IP address of the host (VRRP unicast)' })
  @IsIP()
  address!: string;

  @ApiPropertyOptional({
    example: 150,
    description:
      'VRRP priority 1-254; the highest starts as MASTER (default 150, 140, ... in order)',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(254)
  priority?: number;
}

export class HealthCheckDto {
  @ApiPropertyOptional({ example: 2000, description: 'Interval between checks, ms (default 2000)' })
  @Optional()
  @IsInt()
  @Min(100)
  @Max(60000)
  intervalMs?: number;

  @ApiPropertyOptional({
    example: 2,
    description: 'Successful checks to mark a node up (default 2)',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(10)
  rise?: number;

  @ApiPropertyOptional({ example: 3, description: 'Failed checks to mark a node down (default 3)' })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(10)
  fall?: number;
}

export class TimeoutsDto {
  @ApiPropertyOptional({ example: 5000, description: 'TCP connect to a node, ms (default 5000)' })
  @Optional()
  @IsInt()
  @Min(100)
  @Max(60000)
  connectMs?: number;

  @ApiPropertyOptional({
    example: 10800000,
    description:
      'Idle time before HAProxy closes an AMQP client connection, ms (default 3 h; at least 30 s, three AMQP heartbeats of crossdock links)',
  })
  @Optional()
  @IsInt()
  @Min(30000)
  @Max(86400000)
  clientMs?: number;

  @ApiPropertyOptional({
    example: 10800000,
    description: 'Same on the node side, ms (default 3 h)',
  })
  @Optional()
  @IsInt()
  @Min(30000)
  @Max(86400000)
  serverMs?: number;
}

export class PutLoadBalancerDto {
  @ApiPropertyOptional({
    description:
      'Cluster behind the front ends (must belong to the site); omitted: the site has exactly one cluster',
  })
  @Optional()
  @ValidateIf((_o, v) => v !== null)
  @IsUUID()
  clusterId?: string | null;

  @ApiProperty({
    example: '10.0.1.10',
    description: 'Virtual IP keepalived moves between the hosts',
  })
  @IsIP()
  virtualIp!: string;

  @ApiPropertyOptional({
    example: 'rabbit.dc1.example.net',
    description:
      "Address other sites put in link URIs (host name or IP; default: the virtual IP). Becomes the site's loadBalancer.host",
  })
  @Optional()
  @IsHost()
  address?: string;

  @ApiPropertyOptional({
    example: 'eth0',
    description: 'Network interface carrying the virtual IP (default eth0)',
  })
  @Optional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.:-]{1,15}$/, { message: '$property must be a network interface name' })
  interface?: string;

  @ApiPropertyOptional({
    example: 51,
    description: 'VRRP virtual router id, unique on the network (default 51)',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(255)
  virtualRouterId?: number;

  @ApiPropertyOptional({
    example: '*',
    description: "Address HAProxy binds: '*' (default, every address) or an IP",
  })
  @Optional()
  @ValidateIf((_o, v) => v !== '*')
  @IsIP()
  bindAddress?: string;

  @ApiPropertyOptional({ example: 5672, description: 'AMQP front end port (default 5672)' })
  @Optional()
  @IsPort()
  amqpPort?: number;

  @ApiPropertyOptional({ example: 15672, description: 'Management front end port (default 15672)' })
  @Optional()
  @IsPort()
  managementPort?: number;

  @ApiPropertyOptional({
    type: Number,
    example: 8404,
    nullable: true,
    description: 'HAProxy statistics page on this port at /stats (default: none)',
  })
  @Optional()
  @ValidateIf((_o, v) => v !== null)
  @IsPort()
  statsPort?: number | null;

  @ApiPropertyOptional({
    example: 10000,
    description: 'Connection cap of the AMQP front end (default 10000)',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(1000000)
  maxConnections?: number;

  @ApiProperty({
    type: [LoadBalancerHostDto],
    description: '1 to 8 hosts running HAProxy and keepalived',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @ValidateNested({ each: true })
  @Type(() => LoadBalancerHostDto)
  hosts!: LoadBalancerHostDto[];

  @ApiPropertyOptional({ type: HealthCheckDto })
  @Optional()
  @IsObject()
  @ValidateNested()
  @Type(() => HealthCheckDto)
  healthCheck?: HealthCheckDto;

  @ApiPropertyOptional({ type: TimeoutsDto })
  @Optional()
  @IsObject()
  @ValidateNested()
  @Type(() => TimeoutsDto)
  timeouts?: TimeoutsDto;
}

export class KeepalivedQueryDto {
  @ApiPropertyOptional({
    description: 'Load-balancer host the file is for (required with more than one host)',
  })
  @Optional()
  @IsDnsLabel()
  host?: string;
}

export class LoadBalancerHostView {
  @ApiProperty() name!: string;
  @ApiProperty() address!: string;
  @ApiProperty() priority!: number;
}

export class LoadBalancerView {
  @ApiProperty() siteId!: string;
  @ApiProperty({ nullable: true, type: String }) clusterId!: string | null;
  @ApiProperty() virtualIp!: string;
  @ApiProperty({ description: "Address in other sites' link URIs (the site's loadBalancer.host)" })
  address!: string;
  @ApiProperty() interface!: string;
  @ApiProperty() virtualRouterId!: number;
  @ApiProperty() bindAddress!: string;
  @ApiProperty() amqpPort!: number;
  @ApiProperty() managementPort!: number;
  @ApiProperty({ nullable: true, type: Number }) statsPort!: number | null;
  @ApiProperty() maxConnections!: number;
  @ApiProperty({ type: [LoadBalancerHostView] }) hosts!: LoadBalancerHostView[];
  @ApiProperty({ type: HealthCheckDto }) healthCheck!: Required<HealthCheckDto>;
  @ApiProperty({ type: TimeoutsDto }) timeouts!: Required<TimeoutsDto>;
  @ApiProperty({ description: 'Row version; the ETag is "v<version>"' }) version!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}
