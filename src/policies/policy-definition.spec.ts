import { checkDefinition } from './policy-definition';

describe('checkDefinition per queue type', () => {
  it.each(['queues', 'classic_queues', 'quorum_queues', 'streams'] as const)(
    'accepts queue keys for apply-to %s',
    (applyTo) => {
      expect(checkDefinition(applyTo, { 'max-length': 10 }).errors).toEqual([]);
    },
  );

  it.each(['quorum_queues', 'streams'] as const)(
    'refuses ha-* keys for %s: the broker would never apply the policy',
    (applyTo) => {
      const { errors } = checkDefinition(applyTo, { 'ha-mode': 'all' });
      expect(errors).toEqual([
        expect.objectContaining({
          field: 'definition.ha-mode',
          message: expect.stringMatching(/ha-\*/),
        }),
      ]);
    },
  );

  it('keeps exchange keys to exchanges', () => {
    expect(checkDefinition('quorum_queues', { 'alternate-exchange': 'ae' }).errors).toHaveLength(1);
    expect(checkDefinition('exchanges', { 'alternate-exchange': 'ae' }).errors).toEqual([]);
  });
});

describe('checkDefinition size', () => {
  it('refuses 90,000 keys with one error, without looking at each key', () => {
    const def = Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [`k${i}`, i]));
    const { errors } = checkDefinition('queues', def);
    expect(errors).toEqual([
      { field: 'definition', message: 'definition has too many keys (at most 50)' },
    ]);
  });
});
