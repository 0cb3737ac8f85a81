import { BoundedSet, TokenBuckets } from './token-buckets';

describe('TokenBuckets', () => {
  it('allows the burst at once, then the rate, with a retry hint for the next token', () => {
    let now = 0;
    const b = new TokenBuckets(10, 3, 100, () => now);
    expect([1, 2, 3].map(() => b.take('t').allowed)).toEqual([true, true, true]);
    const refused = b.take('t');
    expect(refused).toEqual({ allowed: false, retryAfterMs: 100 });
    now = 100;
    expect(b.take('t').allowed).toBe(true);
    expect(b.take('t').allowed).toBe(false);
    // Other keys have their own bucket.
    expect(b.take('other').allowed).toBe(true);
  });

  it('never refills above the burst', () => {
    let now = 0;
    const b = new TokenBuckets(1, 2, 100, () => now);
    now = 1_000_000;
    expect([1, 2, 3].map(() => b.take('t').allowed)).toEqual([true, true, false]);
  });

  it('stays bounded: refilled buckets are forgotten first, then the oldest', () => {
    let now = 0;
    const b = new TokenBuckets(1, 1, 3, () => now);
    for (const k of ['a', 'b', 'c']) b.take(k);
    now = 5000; // a, b, c refilled
    b.take('d');
    expect(b.size).toBeLessThanOrEqual(3);
    for (const k of ['e', 'f', 'g', 'h']) b.take(k);
    expect(b.size).toBeLessThanOrEqual(3);
  });
});

describe('BoundedSet', () => {
  it('forgets the least recently added member past its bound', () => {
    const s = new BoundedSet(2);
    s.add('a');
    s.add('b');
    s.add('a');
    s.add('c');
    expect([s.has('a'), s.has('b'), s.has('c')]).toEqual([true, false, true]);
  });
});
