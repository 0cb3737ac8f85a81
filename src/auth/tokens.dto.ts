import { Optional } from '../common/dto/validators';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDate, IsIn, IsString, Matches, MaxLength, MinDate } from 'class-validator';
import { type Role, roles } from '../common/actor/actor';

export class CreateTokenDto {
  @ApiProperty({ example: 'ci-pipeline' })
  @IsString()
  @MaxLength(100)
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._ -]*$/, {
    message: 'name must start with a letter or digit and use letters, digits, . _ - or space',
  })
  name!: string;

  @ApiProperty({ enum: roles })
  @IsIn(roles)
  role!: Role;

  @ApiPropertyOptional({ description: 'Expiry (ISO 8601); never expires when omitted' })
  @Optional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' || typeof value === 'number' ? new Date(value) : value,
  )
  @IsDate()
  @MinDate(() => new Date(), { message: 'expiresAt must be in the future' })
  expiresAt?: Date;
}

export class TokenView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: roles }) role!: Role;
  @ApiProperty({ description: 'Public prefix of the secret, to recognise it' }) prefix!: string;
  @ApiProperty({ nullable: true, type: String }) expiresAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty() createdAt!: string;
}

export class CreatedTokenView extends TokenView {
  @ApiProperty({ description: 'The secret: shown once, never retrievable again' })
  token!: string;
}
