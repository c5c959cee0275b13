'use strict';
// MCP `tools/call` through a running `plugboard serve` (`/mcp`, Streamable HTTP, protocol
// 2025-11-25) with the official TypeScript SDK client: calls/s and p50/p99 of one call in flight,
// then calls/s with IN_FLIGHT callers sharing the connection. The same measure as
// ../../../../../shared/peers/mcp/bench.js over stdio, for docs/benchmarks.md.
//
//   node bench.js URL TOKEN TOOL ARGS_JSON
//
// Knobs: DURATION_S (5), WARMUP_S (1), IN_FLIGHT (16). Prints one JSON object.
const os = require('os');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');

const DURATION_S = Number(process.env.DURATION_S || 5);
const WARMUP_S = Number(process.env.WARMUP_S || 1);
const IN_FLIGHT = Number(process.env.IN_FLIGHT || 16);
const [url, token, tool, argsJson] = process.argv.slice(2);
const args = JSON.parse(argsJson || '{}');

const now = () => performance.now();
const nearestRank = (sorted, p) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];

async function call(client) {
  const result = await client.callTool({ name: tool, arguments: args });
  if (result.isError) throw new Error(`the tool failed: ${JSON.stringify(result)}`);
}

async function sequential(client, seconds) {
  const latenciesUs = [];
  const start = now();
  let t0;
  while ((t0 = now()) - start < seconds * 1000) {
    await call(client);
    latenciesUs.push((now() - t0) * 1000);
  }
  const elapsedS = (now() - start) / 1000;
  latenciesUs.sort((a, b) => a - b);
  return { calls: latenciesUs.length, calls_per_s: latenciesUs.length / elapsedS,
    p50_us: nearestRank(latenciesUs, 50), p99_us: nearestRank(latenciesUs, 99) };
}

async function concurrent(client, seconds) {
  let calls = 0;
  const latenciesUs = [];
  const start = now();
  const caller = async () => {
    let t0;
    while ((t0 = now()) - start < seconds * 1000) {
      await call(client);
      latenciesUs.push((now() - t0) * 1000);
      calls++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, caller));
  latenciesUs.sort((a, b) => a - b);
  return { in_flight: IN_FLIGHT, calls, calls_per_s: calls / ((now() - start) / 1000),
    p50_us: nearestRank(latenciesUs, 50), p99_us: nearestRank(latenciesUs, 99) };
}

(async () => {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'plugboard-bench', version: '0.0.0' });
  await client.connect(transport);
  await client.listTools();
  await sequential(client, WARMUP_S);
  const seq = await sequential(client, DURATION_S);
  const conc = await concurrent(client, DURATION_S);
  console.log(JSON.stringify({ tool, protocol_version: transport.protocolVersion, cpus: os.cpus().length,
    load: os.loadavg(), sequential: seq, concurrent: conc }));
  await client.close();
})().catch((error) => { console.error(error); process.exit(1); });
