'use strict';
// An MCP client on the official TypeScript SDK (@modelcontextprotocol/sdk, pinned in
// package-lock.json; protocol 2025-11-25), driven by the host's tests
// (crates/plugboard/tests/it/mcp.rs) against a real `plugboard serve`.
//
//   node client.js URL TOKEN COMMAND [ARGS...]
//
// TOKEN `-` sends no Authorization header. Commands print one JSON object per line on stdout:
//   tools                 {"protocol": ..., "tools": [every tool definition, all pages]}
//   call NAME ARGS_JSON   {"protocol": ..., "result": CallToolResult}
//   cancel NAME ARGS_JSON calls, aborts after 500 ms (the SDK sends notifications/cancelled),
//                         prints {"cancelled": true, "message": ...}
//   listen                {"ready": true}, then {"notification": "tools/list_changed"} for each,
//                         on the session's GET stream, until killed
// Any failure prints {"error": NAME, "message": ..., "code": ...} and exits 3.
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { ToolListChangedNotificationSchema } = require('@modelcontextprotocol/sdk/types.js');

const emit = (value) => process.stdout.write(JSON.stringify(value) + '\n');

async function connect(url, token) {
  const headers = token === '-' ? {} : { Authorization: `Bearer ${token}` };
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'plugboard-test', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport };
}

async function listAll(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

async function main([url, token, command, ...args]) {
  const { client, transport } = await connect(url, token);
  const protocol = transport.protocolVersion;
  if (command === 'tools') {
    emit({ protocol, tools: await listAll(client) });
  } else if (command === 'call') {
    await listAll(client); // the SDK checks structured results against listed schemas
    const result = await client.callTool({ name: args[0], arguments: JSON.parse(args[1]) });
    emit({ protocol, result });
  } else if (command === 'cancel') {
    const controller = new AbortController();
    setTimeout(() => controller.abort('the test cancels'), 500);
    try {
      await client.callTool({ name: args[0], arguments: JSON.parse(args[1]) }, undefined, { signal: controller.signal });
      emit({ cancelled: false });
    } catch (error) {
      emit({ cancelled: true, message: String(error && error.message) });
    }
    // Give the notification time to leave before the process ends.
    await new Promise((resolve) => setTimeout(resolve, 300));
  } else if (command === 'listen') {
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => emit({ notification: 'tools/list_changed' }));
    await client.listTools();
    // The SDK opens the session's GET stream once initialized; give it a moment to be there.
    await new Promise((resolve) => setTimeout(resolve, 500));
    emit({ ready: true, protocol });
    await new Promise(() => {});
  } else {
    throw new Error(`unknown command ${command}`);
  }
  await client.close();
}

main(process.argv.slice(2)).catch((error) => {
  emit({ error: error && error.name, message: String(error && error.message), code: error && error.code });
  process.exit(3);
});
