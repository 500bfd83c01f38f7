-- Summaries of older turns. The newest one of a chat is the one in use; it includes the earlier ones.
-- The turns it covers stay in `messages`, marked as folded.
CREATE TABLE summaries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    -- The range of messages.id folded into this summary (inclusive), earlier summaries' ranges included.
    first_message_id INTEGER NOT NULL,
    last_message_id INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX summaries_chat_id_id ON summaries (chat_id, id);
-- The prompt's hot query: a chat's unfolded turns.
CREATE INDEX messages_chat_folded_id ON messages (chat_id, folded, id);
