import { argumentProblems, nameProblems } from './topology-validation';

describe('declaration checks', () => {
  it('accepts broker argument values and refuses the rest, naming the key', () => {
    expect(
      argumentProblems({
        'x-max-length': 10,
        'x-dead-letter-exchange': 'dlx',
        lazy: true,
        l: [1, 'a'],
      }),
    ).toEqual([]);
    expect(
      argumentProblems({ a: null, b: { c: { d: { e: 1 } } }, c: Infinity }).map((e) => e.field),
    ).toEqual(['arguments.a', 'arguments.b', 'arguments.c']);
    expect(argumentProblems({ s: 'x'.repeat(1025) })[0].field).toBe('arguments.s');
    expect(
      argumentProblems({ 'x-queue-type': 'quorum' }, 'arguments', ['x-queue-type'])[0].message,
    ).toBe('x-queue-type is set through its own field');
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    expect(argumentProblems(many)[0].message).toBe('at most 32 arguments');
  });

  it('refuses amq.* names and names over 255 bytes', () => {
    expect(nameProblems('amq.gen-x', 'name', 'queue')).toHaveLength(1);
    expect(nameProblems('é'.repeat(128), 'name', 'queue')).toHaveLength(1);
    expect(nameProblems('orders', 'name', 'queue')).toEqual([]);
  });
});
