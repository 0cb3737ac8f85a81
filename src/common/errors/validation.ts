import { ValidationError } from '@nestjs/common';
import { DomainException, FieldError } from './domain.exception';

/** Flattens class-validator errors into dotted field paths; never echoes the rejected value. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push({ field, message: message.replace(/^property /, '') });
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export function validationExceptionFactory(errors: ValidationError[]): DomainException {
  return DomainException.validation(flattenValidationErrors(errors));
}
