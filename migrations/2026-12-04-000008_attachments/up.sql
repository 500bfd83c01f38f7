-- What a user's message carried besides its text: a photo or a document, by Telegram's ids (to fetch it again:
-- Telegram keeps files fetchable), never the bytes. An album is one message with several photos. Goes with its
-- message (/clear, a deleted chat).
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'document')),
    -- What to download it by (this bot's id for the file).
    file_id TEXT NOT NULL,
    -- The same for every bot and over time: what the image cache keeps it under.
    file_unique_id TEXT NOT NULL,
    -- A document's name as the sender gave it.
    name TEXT,
    -- In bytes, when Telegram said.
    size BIGINT,
    -- A photo's pixels (0 when unknown): what it costs in a prompt.
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    -- The message's caption, if any: what a model that sees the photo is asked with it.
    caption TEXT
);
CREATE INDEX attachments_message_id ON attachments (message_id);
