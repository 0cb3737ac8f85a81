import { conjunctionParts, linearRegex, linearRegexProblem } from './linear-regex';

const catastrophic = ['^(a+)+$', '^(a|a)+$', '^(a*)*$', '^(a|aa)+$', '(.*a){20}', '^(\\w+\\s?)+$'];

describe('linearRegex', () => {
  it.each(catastrophic)('runs %s on 255-character names in linear time', (pattern) => {
    const re = linearRegex(pattern);
    expect(re).toBeDefined();
    const names = ['a'.repeat(254) + '!', 'a'.repeat(255), `${'a'.repeat(127)}!${'a'.repeat(127)}`];
    // CPU time, not wall time: other processes' load does not count. A backtracking engine
    // does not finish one of these names.
    const before = process.cpuUsage();
    for (let i = 0; i < 200; i++) for (const n of names) re?.test(n);
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(500);
  });

  it('answers what JavaScript answers on portable patterns', () => {
    const cases: [string, string][] = [
      ['^orders\\.', 'orders.eu'],
      ['^orders\\.', 'ordersXeu'],
      ['\\.us$', 'orders.us'],
      ['^(a|b)$', 'b'],
      ['^(a|b)$', 'ab'],
      ['^q-[0-9]+$', 'q-12'],
      ['^(a+)+$', 'a'.repeat(30)],
      ['^(a+)+$', 'a'.repeat(30) + '!'],
      ['ü', 'grüße'],
    ];
    for (const [p, name] of cases)
      expect([p, linearRegex(p)?.test(name)]).toEqual([p, new RegExp(p).test(name)]);
  });

  it('reads crossdock-written intersections as a conjunction', () => {
    const p = '^(?=.*?(?:^orders\\.))(?=.*?(?:[(]eu|\\)x$))';
    expect(conjunctionParts(p)).toEqual(['^orders\\.', '[(]eu|\\)x$']);
    const re = linearRegex(p);
    for (const name of ['orders.(eu', 'orders.us', 'orders.a)x', 'x(eu'])
      expect([name, re?.test(name)]).toEqual([name, new RegExp(p).test(name)]);
    expect(conjunctionParts('^(?=.*?(?:a))b')).toBeUndefined();
    expect(conjunctionParts('^(?=.*?(?:a)')).toBeUndefined();
  });

  it.each([
    ['(a)\\1', /\\1/],
    ['^(?=a)', /\(\?=/],
    ['^(?!a)', /\(\?!/],
    ['(?<=a)b', /\(\?<=/],
    ['a{1001}', /1001/],
  ])('has no matcher for %s and names the construct', (pattern, construct) => {
    expect(linearRegex(pattern)).toBeUndefined();
    expect(linearRegexProblem(pattern)).toMatch(construct);
  });
});
