import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { retainSeries } from './series';

describe('retainSeries', () => {
  const registers = [new Registry()];

  it('drops the gauge series of subjects that are gone and keeps the live ones', async () => {
    const g = new Gauge({ name: 'g_test', help: 'h', labelNames: ['link', 'kind'], registers });
    g.set({ link: 'a', kind: 'federation' }, 1);
    g.set({ link: 'b', kind: 'shovel' }, 0);
    await retainSeries(g, 'link', new Set(['a']));
    expect((await g.get()).values.map((v) => v.labels.link)).toEqual(['a']);
  });

  it('drops every bucket, sum and count of a histogram series', async () => {
    const h = new Histogram({
      name: 'h_test',
      help: 'h',
      labelNames: ['path'],
      buckets: [1, 2],
      registers,
    });
    h.observe({ path: 'p1' }, 0.5);
    h.observe({ path: 'p2' }, 1.5);
    await retainSeries(h, 'path', new Set(['p2']));
    const left = (await h.get()).values.map((v) => v.labels.path);
    expect(new Set(left)).toEqual(new Set(['p2']));
  });

  it('drops counters too and leaves series without the label alone', async () => {
    const c = new Counter({ name: 'c_test', help: 'h', labelNames: ['rule'], registers });
    c.inc({ rule: 'r1' });
    c.inc();
    await retainSeries(c, 'rule', new Set());
    const values = (await c.get()).values;
    expect(values).toHaveLength(1);
    expect(values[0].labels.rule).toBeUndefined();
  });
});
