import { canonicalJson } from './canonical-json';
import { compactDiff, fieldDiff } from './field-diff';

describe('canonicalJson', () => {
  it('is independent of key order and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      canonicalJson({ a: { d: [1, { y: 2, z: 1 }] }, b: 1 }),
    );
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":"1970-01-01T00:00:00.000Z"}');
  });
});

describe('fieldDiff', () => {
  it.each([
    [{ a: 1 }, { a: 1 }, []],
    [{ a: 1 }, { a: 2 }, [{ path: 'a', before: 1, after: 2 }]],
    [{ a: { b: 1 } }, { a: { b: 1, c: 2 } }, [{ path: 'a.c', after: 2 }]],
    [{ a: [1, 2] }, { a: [2, 1] }, [{ path: 'a', before: [1, 2], after: [2, 1] }]],
    [null, { a: 1 }, [{ path: '$', before: null, after: { a: 1 } }]],
    [{ a: 1 }, undefined, [{ path: '$', before: { a: 1 } }]],
  ])('%j -> %j', (before, after, expected) => {
    expect(fieldDiff(before, after)).toEqual(expected);
  });

  it('ignores bookkeeping fields in the compact form', () => {
    expect(compactDiff({ version: 1, name: 'a' }, { version: 2, name: 'b' })).toEqual([
      { path: 'name', before: 'a', after: 'b' },
    ]);
  });
});
