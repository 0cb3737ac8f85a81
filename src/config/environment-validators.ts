import { registerDecorator } from 'class-validator';
import { parseCidrList } from './cidr';

export function IsValidInstant(): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isValidInstant',
      target: target.constructor,
      propertyName: property as string,
      options: { message: `${String(property)} must be a valid date and time` },
      validator: { validate: (v: unknown) => typeof v === 'string' && !isNaN(Date.parse(v)) },
    });
}

export function IsCidrList(): PropertyDecorator {
  return (target, property) =>
    registerDecorator({
      name: 'isCidrList',
      target: target.constructor,
      propertyName: property as string,
      options: {
        message: `${String(property)} must be a comma-separated list of CIDR networks (10.0.0.0/8, fd00::/8)`,
      },
      validator: { validate: (v: unknown) => typeof v === 'string' && parseCidrList(v) !== null },
    });
}

/** Environment values are strings: a whole number is turned into a number before validation. */
export const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
