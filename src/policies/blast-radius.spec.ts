import { destructiveKeys, matchesEveryName, needsConfirmation } from './blast-radius';

describe('blast-radius guard', () => {
  it.each([
    ['.*', true],
    ['^', true],
    ['.', true],
    ['^.*$', true],
    ['.+', true],
    ['^.*', true],
    ['orders|.*', true],
    ['[\\s\\S]*', true],
    ['^orders\\.', false],
    ['^a', false],
    ['[a-z]+', false],
    ['^(a+)+$', false],
    ['\\.', false],
  ])('pattern %j matches every queue name: %s', (pattern, expected) => {
    expect(matchesEveryName(pattern)).toBe(expected);
  });

  it('names destructive keys and only those', () => {
    expect(
      destructiveKeys({
        'message-ttl': 0,
        'max-length': 0,
        'max-length-bytes': 0,
        expires: 1000,
        overflow: 'reject-publish',
      }),
    ).toEqual([
      'message-ttl=0',
      'max-length=0',
      'max-length-bytes=0',
      'expires=1000',
      'overflow=reject-publish',
    ]);
    expect(destructiveKeys({ overflow: 'reject-publish-dlx' })).toEqual([
      'overflow=reject-publish-dlx',
    ]);
    expect(
      destructiveKeys({
        'message-ttl': 60000,
        'max-length': 10,
        expires: 86_400_000,
        overflow: 'drop-head',
        'ha-mode': 'all',
      }),
    ).toEqual([]);
  });

  it('asks for confirmation only for several clusters, match-all patterns and queue policies', () => {
    const p = { pattern: '.*', applyTo: 'queues' as const, definition: { 'message-ttl': 0 } };
    expect(needsConfirmation(p, 2)).toEqual(['message-ttl=0']);
    expect(needsConfirmation(p, 1)).toEqual([]);
    expect(needsConfirmation({ ...p, pattern: '^orders$' }, 5)).toEqual([]);
    expect(needsConfirmation({ ...p, definition: { 'message-ttl': 1 } }, 5)).toEqual([]);
    expect(needsConfirmation({ ...p, applyTo: 'quorum_queues' }, 3)).toEqual(['message-ttl=0']);
  });
});
