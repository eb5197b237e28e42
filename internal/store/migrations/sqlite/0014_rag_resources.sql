-- 0014_rag_resources: knowledge-base documents (RAG) that runs search. A
-- shared resource (owner_id NULL) is added by an admin and seen by
-- everyone; a user's own goes with the user. A resource's text is split
-- into chunks, numbered from 0 by seq, which the full-text index
-- rag_chunks_fts covers: an FTS5 table over rag_chunks's text (its rowid is
-- the chunk's id), kept in step by the triggers below, which also fire for
-- the rows a cascade deletes (of a resource, or of its owner).

CREATE TABLE rag_resources (
	id          TEXT PRIMARY KEY,
	owner_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
	title       TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	filename    TEXT NOT NULL DEFAULT '',
	media_type  TEXT NOT NULL,
	size        INTEGER NOT NULL,
	chunks      INTEGER NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE INDEX rag_resources_owner ON rag_resources (owner_id, created_at DESC, id DESC);
CREATE INDEX rag_resources_created ON rag_resources (created_at DESC, id DESC);

CREATE TABLE rag_chunks (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	resource_id TEXT NOT NULL REFERENCES rag_resources (id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	text        TEXT NOT NULL,
	UNIQUE (resource_id, seq)
);

CREATE VIRTUAL TABLE rag_chunks_fts USING fts5 (
	text,
	content = 'rag_chunks',
	content_rowid = 'id',
	tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER rag_chunks_fts_insert AFTER INSERT ON rag_chunks BEGIN
	INSERT INTO rag_chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER rag_chunks_fts_delete AFTER DELETE ON rag_chunks BEGIN
	INSERT INTO rag_chunks_fts (rag_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER rag_chunks_fts_update AFTER UPDATE ON rag_chunks BEGIN
	INSERT INTO rag_chunks_fts (rag_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
	INSERT INTO rag_chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
