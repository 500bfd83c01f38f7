DROP INDEX messages_chat_telegram_id;
CREATE UNIQUE INDEX messages_chat_user_telegram_id ON messages (chat_id, telegram_message_id)
    WHERE role = 'user' AND telegram_message_id IS NOT NULL;
