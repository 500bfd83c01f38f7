-- Forum topics: in a supergroup with topics each topic is a conversation of its own. A conversation is
-- (chat_id, topic_id); topic_id 0 is a chat without topics (and a forum's General topic, whose messages carry
-- no thread id). Telegram's message ids stay unique per chat, so the Telegram-id index stays per chat.
ALTER TABLE messages ADD COLUMN topic_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE summaries ADD COLUMN topic_id BIGINT NOT NULL DEFAULT 0;

-- The hot queries: one conversation's turns in order, and its unfolded ones.
DROP INDEX messages_chat_id_id;
CREATE INDEX messages_conversation_id ON messages (chat_id, topic_id, id);
DROP INDEX messages_chat_folded_id;
CREATE INDEX messages_conversation_folded_id ON messages (chat_id, topic_id, folded, id);
DROP INDEX summaries_chat_id_id;
CREATE INDEX summaries_conversation_id ON summaries (chat_id, topic_id, id);

-- A conversation's own settings (a row only once one is set). The chat's system prompt moves here.
CREATE TABLE conversations (
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    topic_id BIGINT NOT NULL DEFAULT 0,
    system_prompt TEXT,
    PRIMARY KEY (chat_id, topic_id)
);
INSERT INTO conversations (chat_id, topic_id, system_prompt)
    SELECT id, 0, system_prompt FROM chats WHERE system_prompt IS NOT NULL;
ALTER TABLE chats DROP COLUMN system_prompt;

-- Tokens as reported by the LLM server, per conversation (a topic's /stats and /clear are the topic's).
CREATE TABLE usage_by_conversation (
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    topic_id BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, topic_id)
);
INSERT INTO usage_by_conversation (chat_id, topic_id, prompt_tokens, completion_tokens, requests)
    SELECT chat_id, 0, prompt_tokens, completion_tokens, requests FROM usage;
DROP TABLE usage;
ALTER TABLE usage_by_conversation RENAME TO usage;
