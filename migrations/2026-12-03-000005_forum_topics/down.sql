-- Back to one conversation per chat: every topic's turns become the chat's (in their order), the General
-- topic's (or else the first) system prompt the chat's, and usage is summed per chat.
CREATE TABLE usage_by_chat (
    chat_id BIGINT PRIMARY KEY NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0
);
INSERT INTO usage_by_chat (chat_id, prompt_tokens, completion_tokens, requests)
    SELECT chat_id, SUM(prompt_tokens), SUM(completion_tokens), SUM(requests) FROM usage GROUP BY chat_id;
DROP TABLE usage;
ALTER TABLE usage_by_chat RENAME TO usage;

ALTER TABLE chats ADD COLUMN system_prompt TEXT;
UPDATE chats SET system_prompt = (
    SELECT c.system_prompt FROM conversations c WHERE c.chat_id = chats.id ORDER BY c.topic_id LIMIT 1);
DROP TABLE conversations;

DROP INDEX summaries_conversation_id;
CREATE INDEX summaries_chat_id_id ON summaries (chat_id, id);
DROP INDEX messages_conversation_folded_id;
CREATE INDEX messages_chat_folded_id ON messages (chat_id, folded, id);
DROP INDEX messages_conversation_id;
CREATE INDEX messages_chat_id_id ON messages (chat_id, id);
ALTER TABLE summaries DROP COLUMN topic_id;
ALTER TABLE messages DROP COLUMN topic_id;
