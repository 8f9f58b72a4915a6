"""The official OpenAI Python SDK, unchanged, against a tenant's endpoint."""
import os
import sys

from openai import OpenAI

client = OpenAI(base_url=os.environ["DITTO_OPENAI_BASE"], api_key=os.environ["DITTO_KEY"])

chat = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])
assert chat.choices[0].message.role == "assistant", chat
assert chat.usage.prompt_tokens == 2, chat.usage

chunks = list(
    client.chat.completions.create(
        model="gpt-4o", stream=True, messages=[{"role": "user", "content": "stream please"}]
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert len(chunks) >= 3 and "mock" in text, chunks
assert all(c.usage is None for c in chunks), "usage the client did not ask for leaked into the stream"

with_usage = list(
    client.chat.completions.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "x"}]
    )
)
assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0

embeddings = client.embeddings.create(model="text-embedding-3-small", input=["a", "b c"])
assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) > 0

models = sorted(m.id for m in client.models.list())
assert models == ["gpt-4o", "text-embedding-3-small"], models

try:
    OpenAI(base_url=os.environ["DITTO_OPENAI_BASE"], api_key="dk-wrong").models.list()
    sys.exit("a wrong key was accepted")
except Exception as e:  # the SDK's AuthenticationError
    assert type(e).__name__ == "AuthenticationError", e

print("python openai SDK: ok")
