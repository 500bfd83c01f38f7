-- A conversation's model (`/model`; NULL: AICHAT_MODEL) and role (`/role`: the name of the server's role whose
-- prompt is the conversation's system_prompt; NULL: none).
ALTER TABLE conversations ADD COLUMN model TEXT;
ALTER TABLE conversations ADD COLUMN role TEXT;
