-- 0016_gen_business: code generator configurations (seed 003
-- /api/v1/admin/gen/business): a table, its columns (JSON list) and the
-- names the generated Go module gives it; and the permissions its routes
-- check, as buttons under a new directory.

CREATE TABLE gen_businesses (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	app_name      TEXT NOT NULL,
	table_name    TEXT NOT NULL UNIQUE,
	class_name    TEXT NOT NULL,
	doc_comment   TEXT NOT NULL DEFAULT '',
	table_comment TEXT NOT NULL DEFAULT '',
	api_version   TEXT NOT NULL,
	remark        TEXT NOT NULL DEFAULT '',
	columns       TEXT NOT NULL DEFAULT '[]',
	created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);

INSERT INTO menus (parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at) VALUES
	(NULL, 'Code generator', 'CodeGen', '/gen', 'directory', 5, 'code', '', 1, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z', strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z');

WITH v (title, name, sort, permission) AS (VALUES
	('List code generator configurations', 'GenBusinessList', 1, 'gen:business:list'),
	('Add code generator configurations', 'GenBusinessAdd', 2, 'gen:business:add'),
	('Edit code generator configurations', 'GenBusinessEdit', 3, 'gen:business:edit'),
	('Delete code generator configurations', 'GenBusinessDel', 4, 'gen:business:del'),
	('Generate code', 'GenBusinessGenerate', 5, 'gen:business:generate')
)
INSERT INTO menus (parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at)
SELECT d.id, v.title, v.name, '', 'button', v.sort, '', v.permission, 1, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z', strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'
FROM v JOIN menus d ON d.title = 'Code generator' AND d.type = 'directory' AND d.parent_id IS NULL
ORDER BY v.sort;
