import { patternProblem } from './broker-pattern';

describe('patternProblem', () => {
  it.each(['^orders\\.', '^(a|b)$', '.*', '^q-[0-9]+$', '^federated\\.x$'])('accepts %s', (p) => {
    expect(patternProblem(p)).toBeUndefined();
  });
  it.each([
    ['', /empty/],
    ['(', /not a valid/],
    ['(?<=a)b', /lookbehind/],
    ['(?<n>a)', /named groups/],
    ['(?i)abc', /inline flags/],
    ['\\p{L}', /escape/],
    ['a++', /possessive/],
    ['(a)\\1', /back-references/],
    ['[[:alpha:]]', /POSIX/],
    ['x'.repeat(300), /at most/],
  ])('rejects %s', (p, why) => {
    expect(patternProblem(p)).toMatch(why);
  });
});
