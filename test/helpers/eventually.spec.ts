import { consistently, eventually } from './eventually';

describe('eventually / consistently', () => {
  it('eventually returns once the probe holds', async () => {
    let n = 0;
    await expect(eventually(() => ++n >= 3, { intervalMs: 1 })).resolves.toBe(true);
  });

  it('consistently passes when the probe holds for the whole window', async () => {
    let calls = 0;
    await consistently(() => ++calls > 0, 30, { intervalMs: 5 });
    expect(calls).toBeGreaterThan(1);
  });

  it('consistently fails as soon as the probe stops holding', async () => {
    let n = 0;
    const started = Date.now();
    await expect(
      consistently(() => ++n < 3, 10000, { intervalMs: 1, description: 'x' }),
    ).rejects.toThrow(/consistently: x returned false/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('consistently reports a probe that throws', async () => {
    await expect(
      consistently(() => {
        throw new Error('boom');
      }, 50),
    ).rejects.toThrow(/stopped holding: boom/);
  });
});
