import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { Optional, printablePattern } from '../common/dto/validators';

export class CredentialsDto {
  @ApiProperty({ example: 'crossdock-admin' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(printablePattern, { message: 'username must be printable' })
  username!: string;

  @ApiProperty({ writeOnly: true, description: 'Stored encrypted; never returned' })
  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  password!: string;
}

/** The optional `credentials` of a write that moves or adds an endpoint: rebinds them in the same request. */
export const RebindCredentials = (): PropertyDecorator =>
  applyDecorators(
    ApiPropertyOptional({
      type: CredentialsDto,
      description:
        'The admin credentials again. Stored credentials are bound to the endpoints they were entered for: after a change of host, port or scheme without them, crossdock stops using them until they are entered again (PUT /clusters/{id}/credentials).',
    }),
    Optional(),
    IsObject(),
    ValidateNested(),
    Type(() => CredentialsDto),
  );
