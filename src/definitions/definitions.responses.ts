import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import type { ObjectKind } from '../reconciliation/broker-state';
import type { ImportResourceType } from './import-plan';
import type { ImportResult } from './definitions.service';

const objectKinds: ObjectKind[] = [
  'federation-upstream',
  'federation-upstream-set',
  'shovel',
  'policy',
  'exchange',
  'queue',
  'binding',
];
const resourceTypes: ImportResourceType[] = ['policy', 'federation-link', 'shovel'];
const brokerObjects = {
  type: 'array',
  items: { type: 'object', additionalProperties: true },
} as const;

/** The management API's definitions format (`GET/POST /api/definitions`), limited to what crossdock generates. */
@ApiSchema({ name: 'DefinitionsFile' })
export class DefinitionsFileDto {
  @ApiProperty({ ...brokerObjects, example: [{ name: '/' }] }) vhosts!: { name: string }[];
  @ApiProperty({ ...brokerObjects, description: 'Always empty' }) users!: never[];
  @ApiProperty({ ...brokerObjects, description: 'Always empty' }) permissions!: never[];
  @ApiProperty({ ...brokerObjects, description: 'Always empty' }) topic_permissions!: never[];
  @ApiProperty({ ...brokerObjects, description: 'Always empty' }) global_parameters!: never[];
  @ApiProperty({
    ...brokerObjects,
    description:
      'Federation upstreams, upstream sets and shovels (`vhost, component, name, value`)',
  })
  parameters!: unknown[];
  @ApiProperty(brokerObjects) policies!: unknown[];
  @ApiProperty(brokerObjects) queues!: unknown[];
  @ApiProperty(brokerObjects) exchanges!: unknown[];
  @ApiProperty(brokerObjects) bindings!: unknown[];
}

export class ImportResourceRefView {
  @ApiProperty({ enum: resourceTypes }) type!: ImportResourceType;
  @ApiProperty() name!: string;
}

export class ImportItemView {
  @ApiProperty({ enum: objectKinds }) kind!: ObjectKind;
  @ApiProperty() vhost!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ['adopt', 'skip'] }) action!: 'adopt' | 'skip';
  @ApiProperty() reason!: string;
  @ApiPropertyOptional({
    type: [ImportResourceRefView],
    description: 'The crossdock resources this object becomes (adopt only)',
  })
  resources?: ImportResourceRefView[];
}

export class ImportWarningView {
  @ApiProperty({ enum: objectKinds }) kind!: ObjectKind;
  @ApiProperty() vhost!: string;
  @ApiProperty() name!: string;
  @ApiProperty() detail!: string;
}

export class ImportConflictView extends ImportWarningView {
  @ApiProperty({ type: ImportResourceRefView }) resource!: ImportResourceRefView;
}

export class ImportCreatedView {
  @ApiProperty({ enum: resourceTypes }) type!: string;
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
}

@ApiSchema({ name: 'ImportResult' })
export class ImportResultDto implements ImportResult {
  @ApiProperty({ format: 'uuid' }) clusterId!: string;
  @ApiProperty() dryRun!: boolean;
  @ApiProperty({ type: [String] }) vhosts!: string[];
  @ApiProperty({ type: [ImportItemView] }) items!: ImportItemView[];
  @ApiProperty({ type: [ImportWarningView] }) warnings!: ImportWarningView[];
  @ApiProperty({ type: [ImportConflictView] }) conflicts!: ImportConflictView[];
  @ApiProperty({ type: [ImportCreatedView], description: 'Resources created (empty on a dry run)' })
  created!: ImportCreatedView[];
}
