// A tool-calling voice agent built on `@openai/agents-realtime` (OpenAI Agents SDK for JS), run
// through rtmock the way its docs do it: a RealtimeAgent with real `tool()`s, a RealtimeSession on
// the SDK's websocket transport (OpenAIRealtimeWebSocket), one user message, and the SDK runs the
// tools and asks for the next response by itself.
//
// Usage (under `rtmock run SCENARIO -- node agents_realtime_client.mjs --ws|--wss [--log-errors] ["request"]`):
//   --ws          dial RTMOCK_URL?model=…      (ws://127.0.0.1:PORT/v1/realtime)
//   --wss         dial RTMOCK_WSS_URL?model=…  (TLS; the mock's CA is trusted through NODE_EXTRA_CA_CERTS,
//                 which Node reads at start-up; without it the handshake fails with a certificate error)
//   --log-errors  log the session's `error` events and carry on, as an app with
//                 `session.on('error', console.error)` does (default: exit 1 on the first one)
// The transport uses the URL exactly as given (no path or query is added) and authenticates with
// `Authorization: Bearer <apiKey>` plus its `User-Agent`/`X-OpenAI-Agents-SDK` headers.
//
// Prints one JSON line {"text": …, "calls": [...]} and exits 0 once a response with a text answer
// is done; exits 1 on any error the session reports (unless --log-errors), 2 when nothing finished in time
// (RTMOCK_CLIENT_TIMEOUT_MS, default 30 s).
import { RealtimeAgent, RealtimeSession, OpenAIRealtimeWebSocket, tool } from '@openai/agents-realtime';
import { z } from 'zod';

const MODEL = 'gpt-realtime';
const args = process.argv.slice(2);
const secure = args.includes('--wss');
const logErrors = args.includes('--log-errors');
// --void-tools: get_your_info does its work and returns nothing (the SDK then sends the string "undefined")
const voidTools = args.includes('--void-tools');
if (!secure && !args.includes('--ws')) {
  console.error('usage: node agents_realtime_client.mjs --ws|--wss [--log-errors] [--void-tools] ["user request"]');
  process.exit(2);
}
const request = args.find((a) => !a.startsWith('--')) ?? 'Please help me.';
const base = secure ? process.env.RTMOCK_WSS_URL : process.env.RTMOCK_URL;
if (!base) {
  console.error(`${secure ? 'RTMOCK_WSS_URL' : 'RTMOCK_URL'} is not set: run me under \`rtmock run\``);
  process.exit(2);
}
const url = base.includes('model=') ? base : `${base}${base.includes('?') ? '&' : '?'}model=${MODEL}`;

const deadline = setTimeout(() => {
  console.error('timed out waiting for the final answer');
  process.exit(2);
}, Number(process.env.RTMOCK_CLIENT_TIMEOUT_MS ?? 30000));

const calls = [];
const record = (name) => (input) => {
  calls.push({ name, input });
};

// Real tools: zod parameters for some, a plain JSON schema for others (both styles the SDK offers).
const getYourInfo = tool({
  name: 'get_your_info',
  description: 'Look up a fact about the user.',
  parameters: z.object({ query: z.string() }),
  execute: async ({ query }) => {
    record('get_your_info')({ query });
    if (voidTools) return undefined;
    return { status: 'ok', answer: `pizza (${query})` };
  },
});
const getWeather = tool({
  name: 'get_weather',
  description: 'Current weather in a city.',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
  execute: async (input) => {
    record('get_weather')(input);
    return { status: 'ok', city: input.city, sky: 'sunny' };
  },
});
const findUser = tool({
  name: 'find_user',
  description: 'Find a user by email address.',
  parameters: z.object({ email: z.string() }),
  execute: async ({ email }) => {
    record('find_user')({ email });
    return { status: 'ok', user_id: 'u_1815', email };
  },
});
const getOrders = tool({
  name: 'get_orders',
  description: "List a user's recent orders.",
  parameters: z.object({ user_id: z.string() }),
  execute: async ({ user_id }) => {
    record('get_orders')({ user_id });
    return { status: 'ok', orders: [{ id: 'o_1', state: 'shipped' }, { id: 'o_2', state: 'shipped' }] };
  },
});

const agent = new RealtimeAgent({
  name: 'Assistant',
  instructions: 'Answer the user. Use the tools.',
  tools: [getYourInfo, getWeather, findUser, getOrders],
});

const transport = new OpenAIRealtimeWebSocket({ url });
const session = new RealtimeSession(agent, {
  transport,
  model: MODEL,
  config: { outputModalities: ['text'] },
});

let finished = false;
function fail(message) {
  if (finished) return;
  finished = true;
  console.error(message);
  try { session.close(); } catch { /* exiting anyway */ }
  process.exit(1);
}

session.on('error', (event) => {
  const error = event?.error ?? event;
  const detail = error?.error?.message ?? error?.message ?? JSON.stringify(error);
  if (logErrors) {
    console.error(`agents-realtime error (carrying on): ${detail}`);
    return;
  }
  fail(`agents-realtime error: ${detail}`);
});

// `agent_end` fires on every response.done with the text of its last message (empty for a
// response that only called tools; the SDK is already running those).
session.on('agent_end', (_context, _agent, text) => {
  if (finished || !text) return;
  finished = true;
  clearTimeout(deadline);
  console.log(JSON.stringify({ text, calls }));
  session.close();
  process.exit(0);
});

try {
  await session.connect({ apiKey: process.env.OPENAI_API_KEY ?? 'rtmock' });
} catch (error) {
  fail(`connect to ${url} failed: ${error?.message ?? error?.error?.message ?? error}`);
}
session.sendMessage(request);
