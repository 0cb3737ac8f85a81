import { patternProblem } from './broker-pattern';

describe('patternProblem', () => {
  it.each(['^orders\\.', '^(a|b)$', '.*', '^q-[0-9]+$', '^federated\\.x$', '^(a+)+$'])(
    'accepts %s',
    (p) => {
      expect(patternProblem(p)).toBeUndefined();
    },
  );
  it.each([
    ['', /empty/],
    ['(', /not a valid/],
    ['(?<=a)b', /lookbehind/],
    ['(?<n>a)', /named groups/],
    ['(?i)abc', /inline flags/],
    ['\\p{L}', /escape/],
    ['a++', /possessive/],
    ['(a)\\1', /back-references/],
    ['^(a+)+\\1$', /back-references/],
    ['[[:alpha:]]', /POSIX/],
    ['x'.repeat(300), /at most/],
    // What RE2 cannot run is refused, naming the construct.
    ['^(?=a)', /lookahead is not supported/],
    ['^(?!a)b', /lookahead is not supported/],
    ['^(?=(a+)+$)', /lookahead is not supported/],
    [
      '^a{1001}$',
      /^pattern: RE2 cannot run it, invalid repetition size: \{1001\} \(crossdock evaluates/,
    ],
  ])('rejects %s', (p, why) => {
    expect(patternProblem(p)).toMatch(why);
  });
});
