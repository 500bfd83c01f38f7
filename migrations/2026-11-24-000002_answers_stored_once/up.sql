-- A retried job must not store its answer twice: every message with a Telegram id (user or bot) is unique
-- per chat. (Users' and the bot's messages share one id sequence per chat.)
DROP INDEX messages_chat_user_telegram_id;
CREATE UNIQUE INDEX messages_chat_telegram_id ON messages (chat_id, telegram_message_id)
    WHERE telegram_message_id IS NOT NULL;
