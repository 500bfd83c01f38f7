ALTER TABLE chats DROP COLUMN blocked_at;
