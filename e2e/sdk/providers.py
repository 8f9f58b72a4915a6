"""The official OpenAI Python SDK, unchanged, through an Anthropic backend:
the gateway translates each way (the mock upstream speaks Anthropic's
Messages API)."""
import json
import os

import openai
from openai import OpenAI

client = OpenAI(base_url=os.environ["DITTO_OPENAI_BASE"], api_key=os.environ["DITTO_KEY"])
question = {"role": "user", "content": "weather in Paris"}

chat = client.chat.completions.create(
    model="claude", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
)
assert chat.object == "chat.completion", chat
assert chat.choices[0].message.content == "mock mock mock mock", chat
assert chat.choices[0].finish_reason == "stop", chat
assert (chat.usage.prompt_tokens, chat.usage.completion_tokens) == (4, 4), chat.usage

chunks = list(client.chat.completions.create(model="claude", stream=True, messages=[question]))
assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "mock mock mock mock", chunks
assert all(c.usage is None for c in chunks), "usage the client did not ask for leaked into the stream"
with_usage = list(
    client.chat.completions.create(
        model="claude", stream=True, stream_options={"include_usage": True}, messages=[question]
    )
)
assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens == 4, with_usage[-1]

tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}}]
first = client.chat.completions.create(model="claude", messages=[question], tools=tools)
assert first.choices[0].finish_reason == "tool_calls", first
call = first.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"echo": "weather in Paris"}
second = client.chat.completions.create(
    model="claude", tools=tools,
    messages=[question, first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
)
assert second.choices[0].message.content == f"tools said: {call.id}=sunny", second

try:
    client.completions.create(model="claude", prompt="hi")
    raise SystemExit("a legacy completion was sent to an Anthropic backend")
except openai.BadRequestError as e:
    assert e.code == "unsupported_endpoint", e

print("python openai SDK through an Anthropic backend: ok")
