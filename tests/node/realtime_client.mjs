// A correct tool-calling client built on the official `openai` npm package's OpenAIRealtimeWS.
//
// Usage: OPENAI_BASE_URL=http://127.0.0.1:PORT/s/<scenario>/v1 NODE_EXTRA_CA_CERTS=<rtmock CA> \
//        node realtime_client.mjs "<user request>"
// OpenAIRealtimeWS always dials wss://<base URL host:port><path>/realtime?model=…, so the mock's CA
// must be trusted (NODE_EXTRA_CA_CERTS). Prints one JSON line {"text": …, "calls": [...]} and exits
// 0 when the final answer arrived; exits 1 on any SDK error, 2 when nothing finished in time.
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const TOOLS = {
  get_your_info: ({ query }) => ({ status: 'ok', answer: `pizza (${query})` }),
  get_weather: ({ city }) => ({ status: 'ok', city, sky: 'sunny' }),
};
const SCHEMAS = {
  get_your_info: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  get_weather: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

const request = process.argv[2] ?? 'What is my favorite food?';
const client = new OpenAI({ apiKey: 'rtmock', baseURL: process.env.OPENAI_BASE_URL });
const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
const deadline = setTimeout(() => {
  console.error('timed out waiting for the final answer');
  process.exit(2);
}, Number(process.env.RTMOCK_CLIENT_TIMEOUT_MS ?? 10000));

let text = '';
const calls = [];

rt.on('error', (err) => {
  console.error(`realtime error: ${err.message}`);
  process.exit(1);
});

rt.socket.on('open', () => {
  rt.send({
    type: 'session.update',
    session: {
      type: 'realtime',
      output_modalities: ['text'],
      instructions: 'Use the tools.',
      tools: Object.keys(TOOLS).map((name) => ({
        type: 'function', name, description: `The ${name} tool.`, parameters: SCHEMAS[name],
      })),
    },
  });
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: request }] },
  });
  rt.send({ type: 'response.create' });
});

rt.on('response.output_text.delta', (event) => {
  text += event.delta;
});

// Answer every call of a response once it is done, then trigger the next response once.
rt.on('response.done', (event) => {
  const done = (event.response.output ?? []).filter((item) => item.type === 'function_call');
  if (done.length === 0) {
    clearTimeout(deadline);
    console.log(JSON.stringify({ text, calls }));
    rt.close();
    return;
  }
  for (const call of done) {
    const output = TOOLS[call.name](JSON.parse(call.arguments));
    calls.push({ name: call.name, call_id: call.call_id });
    rt.send({
      type: 'conversation.item.create',
      item: { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(output) },
    });
  }
  rt.send({ type: 'response.create' });
});
