DROP INDEX messages_chat_folded_id;
DROP INDEX summaries_chat_id_id;
DROP TABLE summaries;
