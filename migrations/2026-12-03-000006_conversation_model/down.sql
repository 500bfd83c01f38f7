ALTER TABLE conversations DROP COLUMN role;
ALTER TABLE conversations DROP COLUMN model;
