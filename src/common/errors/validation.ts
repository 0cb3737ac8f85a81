import { ValidationError } from '@nestjs/common';
import { DomainException, FieldError } from './domain.exception';

/**
 * Constraints that say a value has the wrong type. When one fails, the field's other rules
 * (range, length, pattern) say nothing useful about it: only the type error is reported.
 */
const typeConstraints = [
  'isDefined',
  'isObject',
  'nestedValidation',
  'isArray',
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isUUID',
  'isDateString',
  'isISO8601',
  'isEnum',
  'isIn',
];

/** The messages worth reporting for one field: its type error alone, or every rule it broke. */
function fieldMessages(constraints: Record<string, string>): string[] {
  const typeError = typeConstraints.find((k) => constraints[k] !== undefined);
  return typeError ? [constraints[typeError]] : Object.values(constraints);
}

/** Flattens class-validator errors into dotted field paths; never echoes the rejected value. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of fieldMessages(e.constraints ?? {})) {
      out.push({ field, message: message.replace(/^property /, '') });
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export function validationExceptionFactory(errors: ValidationError[]): DomainException {
  return DomainException.validation(flattenValidationErrors(errors));
}
