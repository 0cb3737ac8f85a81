import fc from 'fast-check';
import { intersect, matches, toPattern, type Selector } from './selectors';

describe('selectors', () => {
  it('intersects names, prefixes and regexes', () => {
    expect(
      intersect({ type: 'names', names: ['a.x', 'b.x'] }, { type: 'prefix', prefix: 'a.' }, []),
    ).toEqual({ type: 'names', names: ['a.x'] });
    expect(
      intersect(
        { type: 'prefix', prefix: 'orders.' },
        { type: 'prefix', prefix: 'orders.eu.' },
        [],
      ),
    ).toEqual({ type: 'prefix', prefix: 'orders.eu.' });
    expect(
      intersect({ type: 'prefix', prefix: 'a' }, { type: 'prefix', prefix: 'b' }, []),
    ).toBeNull();
    const r = intersect({ type: 'regex', patterns: ['^q'] }, { type: 'regex', patterns: ['x$'] }, [
      'qx',
      'qa',
    ]);
    expect(r).toEqual({ type: 'regex', patterns: ['^q', 'x$'] });
    expect(
      intersect({ type: 'regex', patterns: ['^q'] }, { type: 'regex', patterns: ['x$'] }, ['qa']),
    ).toBeNull();
  });

  it('intersects a pattern with itself before any name matches it (queues a link declares later)', () => {
    const guard = { type: 'regex' as const, patterns: ['^federation: '] };
    expect(intersect(guard, { ...guard }, [])).toEqual(guard);
  });

  it('writes patterns that select exactly the intersection', () => {
    const words = fc.stringMatching(/^[a-c.]{0,6}$/);
    const selector: fc.Arbitrary<Selector> = fc.oneof(
      fc
        .array(words, { minLength: 1, maxLength: 4 })
        .map((names) => ({ type: 'names' as const, names: [...new Set(names)] })),
      words.map((prefix) => ({ type: 'prefix' as const, prefix })),
      fc
        .constantFrom('^a', 'b$', 'c', '^a.b', '\\.')
        .map((p) => ({ type: 'regex' as const, patterns: [p] })),
    );
    fc.assert(
      fc.property(selector, selector, fc.array(words, { maxLength: 12 }), (a, b, known) => {
        const i = intersect(a, b, known);
        // Decided on the known names: found whenever one of them is in both.
        if (known.some((n) => matches(a, n) && matches(b, n))) expect(i).not.toBeNull();
        for (const name of known) {
          const inBoth = matches(a, name) && matches(b, name);
          if (i) expect(new RegExp(toPattern(i)).test(name)).toBe(inBoth);
          else expect(inBoth).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });
});
