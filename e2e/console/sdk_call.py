"""One chat completion with the official OpenAI SDK against a tenant's
endpoint. Exit 0: it worked; 3: the key was refused (401)."""

import sys

import openai

base_url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
try:
    reply = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hello from the console test"}],
        max_tokens=16,
    )
except openai.AuthenticationError as e:
    print(f"refused: {e}", file=sys.stderr)
    sys.exit(3)
assert reply.choices[0].message.content, reply
print(reply.choices[0].message.content)
