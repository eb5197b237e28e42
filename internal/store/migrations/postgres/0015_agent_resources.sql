-- 0015_agent_resources: the knowledge-base resources (rag_resources ids,
-- JSON list) an agent's runs search with the search_resources tool.

ALTER TABLE agents ADD COLUMN resources JSONB NOT NULL DEFAULT '[]';
