// The official OpenAI Node SDK, unchanged, against a tenant's endpoint.
import OpenAI from "openai";
import assert from "node:assert/strict";

const client = new OpenAI({ baseURL: process.env.DITTO_OPENAI_BASE, apiKey: process.env.DITTO_KEY });

const chat = await client.chat.completions.create({
  model: "gpt-4o",
  messages: [{ role: "user", content: "hello there" }],
});
assert.equal(chat.choices[0].message.role, "assistant");

const stream = await client.chat.completions.create({
  model: "gpt-4o",
  stream: true,
  messages: [{ role: "user", content: "stream please" }],
});
let text = "";
let count = 0;
for await (const chunk of stream) {
  count += 1;
  text += chunk.choices[0]?.delta?.content ?? "";
}
assert.ok(count >= 3 && text.includes("mock"), `stream: ${count} chunks, ${text}`);

const embeddings = await client.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] });
assert.equal(embeddings.data.length, 2);

const models = [];
for await (const model of client.models.list()) models.push(model.id);
assert.deepEqual(models.sort(), ["gpt-4o", "text-embedding-3-small"]);

await assert.rejects(
  new OpenAI({ baseURL: process.env.DITTO_OPENAI_BASE, apiKey: "dk-wrong" }).models.list(),
  (e) => e.status === 401,
);
console.log("node openai SDK: ok");
