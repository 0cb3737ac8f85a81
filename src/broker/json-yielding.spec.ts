import fc from 'fast-check';
import { parseJson, parseJsonYielding } from './json-yielding';

describe('parseJsonYielding', () => {
  it('agrees with JSON.parse on any JSON value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json(), async (text) => {
        expect(await parseJsonYielding(text)).toEqual({ type: 'ok', value: JSON.parse(text) });
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with JSON.parse on arrays of objects with tricky strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constant(null))),
        ),
        async (value) => {
          const text = JSON.stringify(value, null, 1);
          expect(await parseJsonYielding(text)).toEqual({ type: 'ok', value });
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['[1,]', 'invalid-json'],
    ['[,1]', 'invalid-json'],
    ['[1 2]', 'invalid-json'],
    ['[{"a":1}}', 'invalid-json'],
    ['[1] x', 'invalid-json'],
    ['[{"a":"b"', 'truncated'],
    ['[1,', 'truncated'],
  ])('refuses %j as %s, as JSON.parse would', async (text, problem) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(await parseJsonYielding(text)).toEqual({ type: 'error', problem });
  });

  it('gives the event loop turns while parsing a large listing', async () => {
    const item = { name: 'q'.repeat(40), vhost: '/', arguments: { 'x-queue-type': 'classic' } };
    const text = JSON.stringify(Array.from({ length: 120000 }, (_, i) => ({ ...item, i })));
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    const r = await parseJsonYielding(text, 5);
    clearInterval(timer);
    expect(r.type).toBe('ok');
    expect((r as { value: unknown[] }).value).toHaveLength(120000);
    expect(ticks).toBeGreaterThan(2);
  });

  it('parses non-arrays in one go', async () => {
    expect(await parseJsonYielding(' {"a":[1,2]} ')).toEqual(parseJson('{"a":[1,2]}'));
    expect(await parseJsonYielding('')).toEqual({ type: 'ok', value: undefined });
  });
});
