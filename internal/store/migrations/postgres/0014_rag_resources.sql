-- 0014_rag_resources: knowledge-base documents (RAG) that runs search. A
-- shared resource (owner_id NULL) is added by an admin and seen by
-- everyone; a user's own goes with the user. A resource's text is split
-- into chunks, numbered from 0 by seq, whose tsv (English stemming) the
-- full-text search matches, through a GIN index.

CREATE TABLE rag_resources (
	id          TEXT PRIMARY KEY,
	owner_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
	title       TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	filename    TEXT NOT NULL DEFAULT '',
	media_type  TEXT NOT NULL,
	size        BIGINT NOT NULL,
	chunks      INTEGER NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX rag_resources_owner ON rag_resources (owner_id, created_at DESC, id DESC);
CREATE INDEX rag_resources_created ON rag_resources (created_at DESC, id DESC);

CREATE TABLE rag_chunks (
	id          BIGSERIAL PRIMARY KEY,
	resource_id TEXT NOT NULL REFERENCES rag_resources (id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	text        TEXT NOT NULL,
	tsv         TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
	UNIQUE (resource_id, seq)
);
CREATE INDEX rag_chunks_tsv ON rag_chunks USING GIN (tsv);
