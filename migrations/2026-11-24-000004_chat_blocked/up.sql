-- Set when Telegram answers 403 (the user blocked the bot, or it left the group); cleared when the chat
-- writes again.
ALTER TABLE chats ADD COLUMN blocked_at BIGINT;
