import {
  checkVersion,
  federationRequirements,
  parseVersion,
  policyRequirements,
  unmetText,
} from './broker-versions';

describe('broker versions', () => {
  it.each([
    ['3.10.8', [3, 10, 8]],
    ['3.12.0', [3, 12, 0]],
    ['4.0', [4, 0, 0]],
    ['3.13.1-rc.2', [3, 13, 1]],
    [' 3.13.7 ', [3, 13, 7]],
    ['', null],
    ['three', null],
    [null, null],
  ])('parses %p', (text, want) => {
    expect(parseVersion(text)).toEqual(want);
  });

  // One row per version: which gated keys it knows.
  it.each([
    ['3.10.8', false, false],
    ['3.12.0', true, false],
    ['3.13.0', true, false],
    ['3.13.1', true, true],
    ['4.0', true, true],
  ])('version %s: per-queue-type apply-to %p, upstream queue-type %p', (v, applyTo, queueType) => {
    for (const t of ['classic_queues', 'quorum_queues', 'streams'] as const) {
      expect(checkVersion(v, policyRequirements(t)).tooOld.length === 0).toBe(applyTo);
    }
    expect(checkVersion(v, policyRequirements('queues')).tooOld).toEqual([]);
    expect(checkVersion(v, policyRequirements('exchanges')).tooOld).toEqual([]);
    const q = checkVersion(v, federationRequirements({ queueType: 'quorum' }));
    expect(q.tooOld.length === 0).toBe(queueType);
    expect(q.unknown).toEqual([]);
    expect(checkVersion(v, federationRequirements({})).tooOld).toEqual([]);
  });

  it('cannot judge an unknown version: every requirement is unknown, none too old', () => {
    const reqs = federationRequirements({ queueType: 'classic' });
    expect(checkVersion(null, reqs)).toEqual({ tooOld: [], unknown: reqs });
    expect(checkVersion('garbage', reqs).unknown).toEqual(reqs);
  });

  it('names key, cluster, version and minimum in the reason', () => {
    const [r] = federationRequirements({ queueType: 'quorum' });
    expect(unmetText(r, 'dc1/main', '3.10.8')).toBe(
      'queue-type needs RabbitMQ >= 3.13.1; cluster dc1/main runs 3.10.8',
    );
    expect(unmetText(r, 'dc1/main', null)).toMatch(
      /not known yet \(validated when first observed\)/,
    );
  });
});
