/**
 * A small HTTP load generator, run as its own process so that it does not share the event loop
 * of the server it measures: `node dist/bench/http-load.js <url> <seconds> <connections>` with
 * the request as JSON on stdin ({ headers, body }). Prints one JSON line: requests, errors,
 * seconds, and latency percentiles.
 */
import { Agent, request } from 'node:http';
import { percentile } from './result.js';

interface Spec {
  headers: Record<string, string>;
  body: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const [url, secondsText, connectionsText] = process.argv.slice(2);
  if (url === undefined) throw new Error('usage: http-load <url> <seconds> <connections>');
  const seconds = Number(secondsText ?? 5);
  const connections = Number(connectionsText ?? 16);
  const spec = JSON.parse(await readStdin()) as Spec;
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = Buffer.from(spec.body);
  const headers = { ...spec.headers, 'content-length': String(body.length) };
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;

  const once = () =>
    new Promise<void>((resolveOnce) => {
      const started = performance.now();
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - started);
            else errors++;
            resolveOnce();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolveOnce();
      });
      req.end(body);
    });

  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) await once();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  process.stdout.write(
    `${JSON.stringify({
      requests: latencies.length,
      errors,
      seconds: elapsed,
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
    })}\n`,
  );
}

await main();
