/**
 * Broker policy patterns are Erlang `re` (PCRE) regexes; crossdock evaluates them in JavaScript
 * too (to predict what a policy matches). Accept only the subset both engines read the same
 * way, and say what is wrong otherwise.
 */
const unportable: [RegExp, string][] = [
  [/\(\?<[=!]/, 'lookbehind is not supported'],
  [/\(\?P?<[A-Za-z]/, 'named groups are not supported'],
  [/\(\?[a-zA-Z-]+[:)]/, 'inline flags are not supported'],
  [/\\[pPkgGQEKRXhHvVNC]/, 'this escape differs between PCRE and JavaScript'],
  [/\(\?[#|>+]/, 'this group syntax is not supported'],
  [/\[\[:/, 'POSIX classes are not supported'],
  [/\\[1-9]/, 'back-references are not supported'],
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
  return undefined;
}
