import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateSiteDto } from './sites.dto';
import { flattenValidationErrors } from '../common/errors/validation';

const errorsFor = (body: Record<string, unknown>) =>
  flattenValidationErrors(
    validateSync(plainToInstance(CreateSiteDto, body), {
      whitelist: true,
      forbidNonWhitelisted: true,
    }),
  );

describe('flattenValidationErrors', () => {
  it('reports one error for a value of the wrong type', () => {
    expect(errorsFor({ name: 'dc1', region: 'r', expectedRttMs: 'thirty' })).toEqual([
      { field: 'expectedRttMs', message: 'expectedRttMs must be an integer number' },
    ]);
    expect(errorsFor({ name: 42, region: 'r' })).toEqual([
      { field: 'name', message: 'name must be a string' },
    ]);
  });

  it('reports a wrongly typed nested object once, without its fields', () => {
    expect(errorsFor({ name: 'dc1', region: 'r', loadBalancer: 'lb.example' })).toEqual([
      { field: 'loadBalancer', message: 'loadBalancer must be an object' },
    ]);
  });

  it('still reports every rule a value of the right type breaks', () => {
    const errors = errorsFor({ name: 'Not_A_Label'.repeat(10), region: 'r' });
    expect(errors.map((e) => e.field)).toEqual(['name', 'name']);
  });

  it('names nested fields with dotted paths', () => {
    expect(
      errorsFor({ name: 'dc1', region: 'r', loadBalancer: { host: 'lb', port: 'x' } }),
    ).toEqual([{ field: 'loadBalancer.port', message: 'port must be an integer number' }]);
  });

  it('reports an unknown field once', () => {
    expect(errorsFor({ name: 'dc1', region: 'r', colour: 'red' })).toEqual([
      { field: 'colour', message: 'colour should not exist' },
    ]);
  });
});
