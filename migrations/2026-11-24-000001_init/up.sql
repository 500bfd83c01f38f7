-- Chats are keyed by Telegram's chat id (negative for groups, may exceed 32 bits).
CREATE TABLE chats (
    id BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL DEFAULT 'private',
    title TEXT,
    system_prompt TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every turn of every conversation. Rows are only deleted by /clear (or deleting the session).
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    telegram_message_id BIGINT,
    created_at BIGINT NOT NULL,
    folded BOOLEAN NOT NULL DEFAULT 0
);

-- The hot query: one chat's turns in order.
CREATE INDEX messages_chat_id_id ON messages (chat_id, id);
-- A user's message is stored once, however often its job runs.
CREATE UNIQUE INDEX messages_chat_user_telegram_id ON messages (chat_id, telegram_message_id)
    WHERE role = 'user' AND telegram_message_id IS NOT NULL;

-- Tokens as reported by the LLM server, per chat.
CREATE TABLE usage (
    chat_id BIGINT PRIMARY KEY NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0
);
