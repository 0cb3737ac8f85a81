import { DomainException, type FieldError } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-codes';
import { linearRegexProblem } from '../linear-regex';

/**
 * Broker policy patterns are Erlang `re` (PCRE) regexes; crossdock evaluates them too (to predict
 * what a policy matches), on RE2 so that no pattern can stall the process (linear-regex.ts).
 * Accept only the subset PCRE, JavaScript and RE2 read the same way, and say what is wrong
 * otherwise.
 */
const linearTime = '(crossdock evaluates patterns in linear time)';

const unportable: [RegExp, string][] = [
  [/\(\?<[=!]/, `lookbehind is not supported ${linearTime}`],
  [/\(\?P?<[A-Za-z]/, 'named groups are not supported'],
  [/\(\?[a-zA-Z-]+[:)]/, 'inline flags are not supported'],
  [/\\[pPkgGQEKRXhHvVNC]/, 'this escape differs between PCRE and JavaScript'],
  [/\(\?[#|>+]/, 'this group syntax is not supported'],
  [/\[\[:/, 'POSIX classes are not supported'],
  [/\\[1-9]/, `back-references are not supported ${linearTime}`],
  [/[*+?}]\+/, 'possessive quantifiers are not supported'],
];

export function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'pattern must not be empty';
  if (pattern.length > 255) return 'pattern must be at most 255 characters';
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f]/.test(pattern)) return 'pattern must not contain control characters';
  for (const [re, why] of unportable) if (re.test(pattern)) return `pattern: ${why}`;
  try {
    new RegExp(pattern);
  } catch {
    return 'pattern is not a valid regular expression';
  }
  const engine = linearRegexProblem(pattern);
  if (engine?.includes('(?=') || engine?.includes('(?!'))
    return `pattern: lookahead is not supported ${linearTime}`;
  if (engine) return `pattern: RE2 cannot run it, ${engine} ${linearTime}`;
  return undefined;
}

/** A valid regular expression that the linear-time engine cannot run (the construct is named). */
export function isUnsupportedPattern(message: string): boolean {
  return message.endsWith(linearTime);
}

/**
 * The error for a write whose fields failed: 422 `unsupported-pattern` when the only problems are
 * patterns crossdock cannot evaluate in linear time, the usual 400 otherwise.
 */
export function invalidInput(errors: FieldError[]): DomainException {
  if (errors.length > 0 && errors.every((e) => isUnsupportedPattern(e.message)))
    return new DomainException(
      ErrorCode.UnsupportedPattern,
      422,
      'Unsupported pattern',
      errors.map((e) => `${e.field}: ${e.message}`).join('; '),
      errors,
    );
  return DomainException.validation(errors);
}
