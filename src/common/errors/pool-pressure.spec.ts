import type { DataSource } from 'typeorm';
import { poolCheckoutTimeout, poolSaturated } from './pool-pressure';

const ds = (max: number, clients: { _connected?: boolean; _ending?: boolean }[]) =>
  ({ driver: { master: { options: { max }, _clients: clients } } }) as unknown as DataSource;

describe('poolSaturated', () => {
  it('is true only when every slot holds an established connection', () => {
    const up = { _connected: true };
    expect(poolSaturated(ds(2, [up, up]))).toBe(true);
    expect(poolSaturated(ds(3, [up, up]))).toBe(false);
    // An outage: the pool is full of clients still connecting.
    expect(poolSaturated(ds(2, [{ _connected: false }, { _connected: false }]))).toBe(false);
    expect(poolSaturated(ds(2, [up, { _connected: true, _ending: true }]))).toBe(false);
  });

  it('is false when the driver does not look like pg', () => {
    expect(poolSaturated(undefined)).toBe(false);
    expect(poolSaturated({ driver: {} } as unknown as DataSource)).toBe(false);
  });

  it('recognises the checkout timeout of pg-pool', () => {
    expect(poolCheckoutTimeout.test('timeout exceeded when trying to connect')).toBe(true);
  });
});
