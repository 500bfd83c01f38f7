-- Every model request, summed per UTC day, user, chat, model, kind and source: what limits count, /usage shows
-- and the admin API reports. Not tied to `chats` by a foreign key: usage stays when a chat is cleared or
-- deleted (a budget must not reset with /clear).
CREATE TABLE usage_daily (
    -- 'YYYY-MM-DD' (UTC): sorts as the date.
    day TEXT NOT NULL,
    -- Who asked; 0 for the bot's own requests (summaries), which count against the chat, not a user.
    user_id BIGINT NOT NULL,
    chat_id BIGINT NOT NULL,
    model TEXT NOT NULL,
    -- 'chat' (an answer) or 'summary' (the Compressor's request).
    kind TEXT NOT NULL CHECK (kind IN ('chat', 'summary')),
    -- 'server' (the server's reported usage) or 'estimate' (the bot's own count).
    source TEXT NOT NULL CHECK (source IN ('server', 'estimate')),
    requests BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, user_id, chat_id, model, kind, source)
);
-- The limit check's query: one user's days of a month.
CREATE INDEX usage_daily_user_day ON usage_daily (user_id, day);
