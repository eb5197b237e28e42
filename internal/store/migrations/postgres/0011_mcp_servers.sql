-- 0011_mcp_servers: MCP servers whose tools agents use. A shared server
-- (owner_id NULL) is added by an admin and seen by everyone; a user's own
-- goes with the user. Names are unique among the shared ones and among
-- each user's. headers (JSON object) may carry credentials and are never
-- shown back; enabled_tools (JSON list) NULL means all the server's tools.
-- An agent names the servers it uses in mcp_servers (JSON list).

CREATE TABLE mcp_servers (
	id            BIGSERIAL PRIMARY KEY,
	owner_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	transport     TEXT NOT NULL,
	url           TEXT NOT NULL,
	headers       JSONB NOT NULL DEFAULT '{}',
	enabled_tools JSONB,
	enabled       BOOLEAN NOT NULL DEFAULT TRUE,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX mcp_servers_shared_name ON mcp_servers (name) WHERE owner_id IS NULL;
CREATE UNIQUE INDEX mcp_servers_owner_name ON mcp_servers (owner_id, name) WHERE owner_id IS NOT NULL;

ALTER TABLE agents ADD COLUMN mcp_servers JSONB NOT NULL DEFAULT '[]';
