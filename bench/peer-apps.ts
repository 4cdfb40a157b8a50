/**
 * The two peer apps, written into bench/.peers/ by the bench (never project dependencies).
 * Both answer like Kiln's offline model: "Echo: <message>".
 */

export const LANGGRAPH_PACKAGES = [
  '@langchain/langgraph-cli@2.0.0',
  '@langchain/langgraph-api@2.0.0',
  '@langchain/langgraph@1.7.3',
  '@langchain/core@1.4.0',
  '@langchain/langgraph-sdk@2.0.0',
  '@langchain/langgraph-checkpoint@1.0.4',
  'typescript@5.9.3',
];

export const MASTRA_PACKAGES = ['mastra@1.31.0', '@mastra/core@1.71.0', '@mastra/memory@1.31.0', 'ai@7.0.173', 'zod@4.6.7'];

export const LANGGRAPH_FILES: Record<string, string> = {
  'langgraph.json': JSON.stringify({ node_version: '20', graphs: { agent: './src/agent.ts:graph' }, env: {} }, null, 2) + '\n',
  'src/agent.ts': `// One node that answers "Echo: <last user message>", like Kiln's offline model. In memory, no network.
import { StateGraph, MessagesAnnotation, START, END } from "@langchain/langgraph";
import { AIMessage } from "@langchain/core/messages";

function echo(state: typeof MessagesAnnotation.State) {
  const last = state.messages[state.messages.length - 1];
  const text = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "");
  return { messages: [new AIMessage("Echo: " + text)] };
}

export const graph = new StateGraph(MessagesAnnotation).addNode("agent", echo).addEdge(START, "agent").addEdge("agent", END).compile();
`,
};

export const MASTRA_FILES: Record<string, string> = {
  'tsconfig.json':
    JSON.stringify(
      { compilerOptions: { target: 'ES2022', module: 'ES2022', moduleResolution: 'bundler', esModuleInterop: true, strict: false, skipLibCheck: true, noEmit: true }, include: ['src/**/*'] },
      null,
      2,
    ) + '\n',
  'src/mastra/index.ts': `// One agent on the AI SDK's mock model, answering "Echo: <message>" in deltas of three words,
// like Kiln's offline model; thread memory in Mastra's in-memory store. No network.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { InMemoryStore } from "@mastra/core/storage";
import { Memory } from "@mastra/memory";
import { MockLanguageModelV3, simulateReadableStream } from "ai/test";

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 10, text: 10, reasoning: 0 },
};

function lastUserText(prompt: any[]): string {
  for (let i = prompt.length - 1; i >= 0; i--) {
    const m = prompt[i];
    if (m.role !== "user") continue;
    const parts = Array.isArray(m.content) ? m.content : [{ type: "text", text: String(m.content) }];
    return parts.filter((p: any) => p.type === "text").map((p: any) => p.text).join("");
  }
  return "";
}

function deltas(text: string): string[] {
  const words = text.match(/\\S+\\s*|\\s+/g) ?? [text];
  const out: string[] = [];
  for (let i = 0; i < words.length; i += 3) out.push(words.slice(i, i + 3).join(""));
  return out;
}

const model = new MockLanguageModelV3({
  doGenerate: async (options: any) => ({
    content: [{ type: "text", text: "Echo: " + lastUserText(options.prompt) }],
    finishReason: { unified: "stop", raw: "stop" },
    usage,
    warnings: [],
  }),
  doStream: async (options: any) => ({
    stream: simulateReadableStream({
      initialDelayInMs: null,
      chunkDelayInMs: null,
      chunks: [
        { type: "stream-start", warnings: [] },
        { type: "text-start", id: "t1" },
        ...deltas("Echo: " + lastUserText(options.prompt)).map((delta) => ({ type: "text-delta", id: "t1", delta })),
        { type: "text-end", id: "t1" },
        { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage },
      ],
    }),
  }),
});

export const fakeAgent = new Agent({
  id: "fakeAgent",
  name: "fakeAgent",
  instructions: "You are a test agent.",
  model,
  memory: new Memory({ options: { lastMessages: 10 } }),
});

export const mastra = new Mastra({
  agents: { fakeAgent },
  storage: new InMemoryStore(),
  server: { host: "127.0.0.1", port: Number(process.env.PORT ?? 4111) },
});
`,
};
