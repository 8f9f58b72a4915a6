-- Backends may speak Anthropic's Messages API or Google's Gemini API; the
-- gateway translates OpenAI chat completions to and from them.
ALTER TABLE backends DROP CONSTRAINT backends_provider_check;
ALTER TABLE backends ADD CONSTRAINT backends_provider_check
    CHECK (provider IN ('openai', 'anthropic', 'gemini'));
