import { bodyLimitOf, defaultBodyLimit, maxBodyMembers } from './body-limits';
import { jsonShapeProblem, maxJsonDepth } from './json-body.middleware';

const limits = { depth: maxJsonDepth, members: maxBodyMembers, values: 20_000 };

describe('jsonShapeProblem', () => {
  it('accepts an ordinary body', () => {
    expect(
      jsonShapeProblem({ name: 'x', targets: ['a', 'b'], settings: { maxHops: 1 } }, limits),
    ).toBeUndefined();
    expect(
      jsonShapeProblem(
        Array.from({ length: 200 }, (_, i) => `q${i}`),
        limits,
      ),
    ).toBeUndefined();
  });

  it('names the array or object with too many members, fast', () => {
    const targets = Array.from({ length: 110_000 }, (_, i) => `a${i}`);
    const definition = Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [`k${i}`, 1]));
    const before = process.cpuUsage();
    const found = [
      jsonShapeProblem({ name: 'x', targets }, limits),
      jsonShapeProblem({ definition }, limits),
    ];
    const used = process.cpuUsage(before);
    expect(found).toEqual([
      { field: 'targets', message: `more than ${maxBodyMembers} members` },
      { field: 'definition', message: `more than ${maxBodyMembers} members` },
    ]);
    // CPU time, not wall time: other processes' load does not count.
    expect((used.user + used.system) / 1000).toBeLessThan(500);
  });

  it('counts values in all and nesting depth', () => {
    const wide = Array.from({ length: 30 }, () => Array.from({ length: 900 }, () => 1));
    expect(jsonShapeProblem(wide, limits)).toEqual({
      field: 'body',
      message: 'more than 20000 values',
    });
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(jsonShapeProblem(deep, limits)?.message).toMatch(/nesting deeper than 32/);
  });
});

describe('bodyLimitOf', () => {
  it('gives link and cluster writes room for their lists, everything else the default', () => {
    expect(bodyLimitOf('POST', '/links/federation').bytes).toBe(1024 * 1024);
    expect(
      bodyLimitOf('PATCH', '/links/federation/4a0c1d3e-0000-4000-8000-000000000000').bytes,
    ).toBe(1024 * 1024);
    expect(bodyLimitOf('POST', '/clusters').bytes).toBe(256 * 1024);
    expect(bodyLimitOf('POST', '/policies')).toEqual(defaultBodyLimit);
    expect(bodyLimitOf('GET', '/links/federation')).toEqual(defaultBodyLimit);
  });
});
