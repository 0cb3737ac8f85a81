import type { AddressInfo } from 'node:net';
import { createTestApp, type TestApp } from '../helpers/app';
import { startTestService, type ServiceProcess } from '../helpers/service-process';

const metricsToken = 'mt_'.padEnd(40, 'x7');

async function listen(t: TestApp): Promise<string> {
  await t.app.listen(0, '127.0.0.1');
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

describe('/metrics: optional token, cached rendering, no starvation under a scrape storm', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ METRICS_TOKEN: metricsToken, METRICS_CACHE_MS: '2000' });
    base = await listen(t);
  });
  afterAll(() => t?.close());

  const scrape = (token?: string) =>
    fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers 401 problem+json without the metrics token or with another one', async () => {
    for (const token of [undefined, 'not-the-token', `${metricsToken}x`]) {
      const res = await scrape(token);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.text()).not.toContain('crossdock_');
    }
    const ok = await scrape(metricsToken);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('crossdock_http_request_duration_seconds_bucket');
  });

  it('renders once per cache window: scrapes in between get the same text', async () => {
    await fetch(`${base}/health/live`);
    // A fresh window (the previous test's scrapes may still be cached).
    await new Promise((r) => setTimeout(r, 2100));
    const first = await (await scrape(metricsToken)).text();
    // Requests in between change the latency histogram, but not the cached rendering.
    for (let i = 0; i < 5; i++) await fetch(`${base}/health/live`);
    const second = await (await scrape(metricsToken)).text();
    expect(second).toBe(first);
    // Status classes, not exact statuses: bounded series per route.
    expect(first).toMatch(/status="2xx"/);
    expect(first).not.toMatch(/status="200"/);
  });
});

/**
 * The service in its own process (the test's own loop is the client, not the server), with the
 * default cache window: while 50 clients scrape 1,000 times, /health/live keeps answering.
 */
describe('/metrics scrape storm against a service process', () => {
  let svc: ServiceProcess;
  beforeAll(async () => {
    svc = await startTestService({
      DATABASE_URL: process.env.DATABASE_URL ?? '',
      METRICS_TOKEN: metricsToken,
      RECONCILE_ENABLED: 'false',
      PROBES_ENABLED: 'false',
      OVERFLOW_ENABLED: 'false',
    });
  });
  afterAll(() => svc?.stop());

  /** 1,000 requests to `path` from 50 clients, while one more client times /health/live. */
  async function storm(path: string) {
    let sent = 0;
    let bytes = 0;
    let failures = 0;
    const worker = async () => {
      while (sent < 1000) {
        sent += 1;
        try {
          const res = await fetch(`${svc.url}${path}`, {
            headers: { authorization: `Bearer ${metricsToken}` },
          });
          bytes += (await res.arrayBuffer()).byteLength;
          if (res.status !== 200) failures += 1;
        } catch {
          failures += 1; // a socket reset is counted, not fatal to the measurement
        }
      }
    };
    const started = performance.now();
    let done = false;
    const running = Promise.all(Array.from({ length: 50 }, worker)).finally(() => (done = true));
    const latencies: number[] = [];
    while (!done) {
      const s = performance.now();
      const res = await fetch(`${svc.url}/health/live`);
      await res.text();
      latencies.push(performance.now() - s);
    }
    await running;
    return {
      path,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      kbPerAnswer: Math.round(bytes / 1000 / 1024),
      failures,
      liveRequests: latencies.length,
      liveP50: Math.round(pct(latencies, 50)),
      liveP99: Math.round(pct(latencies, 99)),
    };
  }

  it('1,000 scrapes cost at most twice 1,000 calls of /health/live, whose p50 stays < 2 s', async () => {
    // The bound is relative: the machine's load decides absolute figures. An uncached scrape
    // (37 ms of rendering for 367 KB) made it 30 times worse; a cached one costs a string send.
    const baseline = await storm('/health/live');
    const scrapes = await storm('/metrics');
    process.stderr.write(`metrics storm: ${JSON.stringify({ baseline, scrapes })}\n`);
    expect(scrapes.failures).toBeLessThanOrEqual(5);
    expect(scrapes.liveRequests).toBeGreaterThan(0);
    // Cost: the storm takes no more than twice as long as the trivial one (rendering every
    // scrape took 2.6 times as long). Starvation: other requests' p50 stays under 2 s (6.9 s
    // before; a few hundred ms on this loaded 2-core machine with the cache).
    expect(scrapes.seconds).toBeLessThanOrEqual(2 * baseline.seconds + 5);
    expect(scrapes.liveP50).toBeLessThan(2000);
  }, 300000);
});
