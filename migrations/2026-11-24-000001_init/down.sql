DROP TABLE usage;
DROP INDEX messages_chat_user_telegram_id;
DROP INDEX messages_chat_id_id;
DROP TABLE messages;
DROP TABLE chats;
