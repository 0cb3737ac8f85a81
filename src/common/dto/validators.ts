import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

/** RFC 1123 label: what site and cluster names must be (they end up in broker object names). */
export const dnsLabelPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const IsDnsLabel = (): PropertyDecorator =>
  applyDecorators(
    IsString(),
    MaxLength(63),
    Matches(dnsLabelPattern, {
      message:
        '$property must be a DNS label: lowercase letters, digits and -, at most 63 characters',
    }),
  );

/** No control characters: what broker object names and credentials may hold. */
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
export const printablePattern = /^[^\u0000-\u001f\u007f]+$/;

/** A broker name (vhost, queue, exchange, key): printable; for arrays, every element. */
export const IsPrintable = (): PropertyDecorator =>
  Matches(printablePattern, { message: '$property must be printable', each: true });

/** Host name or IPv4/IPv6 literal; no scheme, port, path or credentials. */
export const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/;

export const IsHost = (): PropertyDecorator =>
  applyDecorators(
    IsString(),
    MaxLength(253),
    Matches(hostPattern, {
      message: '$property must be a host name or IP address (no scheme, port or path)',
    }),
  );

export const IsPort = (): PropertyDecorator => applyDecorators(IsInt(), Min(1), Max(65535));

export class EndpointDto {
  @ApiProperty({ example: 'rabbit.dc1.example.net' })
  @IsHost()
  host!: string;

  @ApiProperty({ example: 5672 })
  @IsPort()
  port!: number;
}

export const NestedEndpoint = (): PropertyDecorator =>
  applyDecorators(
    ValidateNested(),
    Type(() => EndpointDto),
  );

/**
 * Optional means "may be left out", not "may be null": a null then fails the field's own rules
 * (class-validator's IsOptional would let it through to a NOT NULL column). Fields that accept
 * null say so with their own ValidateIf.
 */
export const Optional = (): PropertyDecorator => ValidateIf((_o, v) => v !== undefined);
