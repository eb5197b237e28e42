-- 0007_rbac: roles, departments and menus (seed 003 /api/v1/admin/sys).
--
-- A user holds a permission when one of its enabled roles grants an enabled
-- menu carrying it (menus.permission, comma-separated when several); users
-- whose users.role is 'admin' hold them all. The built-in menus below, one
-- button per permission the admin routes check, are what an admin grants.

CREATE TABLE roles (
	id          BIGSERIAL PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	code        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	enabled     BOOLEAN NOT NULL DEFAULT TRUE,
	created_at  TIMESTAMPTZ NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_roles (
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
	PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_id ON user_roles (role_id);

-- parent_id is NULL for a root. Deleting a node with children is refused.
CREATE TABLE depts (
	id         BIGSERIAL PRIMARY KEY,
	parent_id  BIGINT REFERENCES depts (id),
	name       TEXT NOT NULL,
	sort       INTEGER NOT NULL DEFAULT 0,
	leader     TEXT NOT NULL DEFAULT '',
	phone      TEXT NOT NULL DEFAULT '',
	email      TEXT NOT NULL DEFAULT '',
	enabled    BOOLEAN NOT NULL DEFAULT TRUE,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX depts_parent_id ON depts (parent_id);

ALTER TABLE users ADD COLUMN dept_id BIGINT REFERENCES depts (id);
CREATE INDEX users_dept_id ON users (dept_id);

CREATE TABLE menus (
	id         BIGSERIAL PRIMARY KEY,
	parent_id  BIGINT REFERENCES menus (id),
	title      TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	path       TEXT NOT NULL DEFAULT '',
	type       TEXT NOT NULL,
	sort       INTEGER NOT NULL DEFAULT 0,
	icon       TEXT NOT NULL DEFAULT '',
	permission TEXT NOT NULL DEFAULT '',
	enabled    BOOLEAN NOT NULL DEFAULT TRUE,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX menus_parent_id ON menus (parent_id);

CREATE TABLE role_menus (
	role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
	menu_id BIGINT NOT NULL REFERENCES menus (id) ON DELETE CASCADE,
	PRIMARY KEY (role_id, menu_id)
);
CREATE INDEX role_menus_menu_id ON role_menus (menu_id);

-- The built-in menus: a directory per route family, a button per permission.
INSERT INTO menus (parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at) VALUES
	(NULL, 'System', 'System', '/system', 'directory', 1, 'settings', '', TRUE, date_trunc('second', now()), date_trunc('second', now())),
	(NULL, 'Logs', 'Logs', '/log', 'directory', 2, 'history', '', TRUE, date_trunc('second', now()), date_trunc('second', now())),
	(NULL, 'Monitor', 'Monitor', '/monitor', 'directory', 3, 'monitor', '', TRUE, date_trunc('second', now()), date_trunc('second', now())),
	(NULL, 'Credits', 'Credits', '/credits', 'directory', 4, 'wallet', '', TRUE, date_trunc('second', now()), date_trunc('second', now()));

WITH v (dir, title, name, sort, permission) AS (VALUES
	('System', 'List users', 'SysUserList', 1, 'sys:user:list'),
	('System', 'Add users', 'SysUserAdd', 2, 'sys:user:add'),
	('System', 'Edit users', 'SysUserEdit', 3, 'sys:user:edit'),
	('System', 'Delete users', 'SysUserDel', 4, 'sys:user:del'),
	('System', 'List roles', 'SysRoleList', 5, 'sys:role:list'),
	('System', 'Add roles', 'SysRoleAdd', 6, 'sys:role:add'),
	('System', 'Edit roles and their menus', 'SysRoleEdit', 7, 'sys:role:edit'),
	('System', 'Delete roles', 'SysRoleDel', 8, 'sys:role:del'),
	('System', 'List departments', 'SysDeptList', 9, 'sys:dept:list'),
	('System', 'Add departments', 'SysDeptAdd', 10, 'sys:dept:add'),
	('System', 'Edit departments', 'SysDeptEdit', 11, 'sys:dept:edit'),
	('System', 'Delete departments', 'SysDeptDel', 12, 'sys:dept:del'),
	('System', 'List menus', 'SysMenuList', 13, 'sys:menu:list'),
	('System', 'Add menus', 'SysMenuAdd', 14, 'sys:menu:add'),
	('System', 'Edit menus', 'SysMenuEdit', 15, 'sys:menu:edit'),
	('System', 'Delete menus', 'SysMenuDel', 16, 'sys:menu:del'),
	('Logs', 'List login logs', 'LogLoginList', 1, 'log:login:list'),
	('Logs', 'Delete login logs', 'LogLoginDel', 2, 'log:login:del'),
	('Logs', 'List operation logs', 'LogOperaList', 3, 'log:opera:list'),
	('Logs', 'Delete operation logs', 'LogOperaDel', 4, 'log:opera:del'),
	('Monitor', 'Server monitor', 'MonitorServer', 1, 'monitor:server'),
	('Monitor', 'Redis monitor', 'MonitorRedis', 2, 'monitor:redis'),
	('Credits', 'Add credits', 'CreditsAdd', 1, 'credits:add')
)
INSERT INTO menus (parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at)
SELECT d.id, v.title, v.name, '', 'button', v.sort, '', v.permission, TRUE, date_trunc('second', now()), date_trunc('second', now())
FROM v JOIN menus d ON d.title = v.dir AND d.type = 'directory' AND d.parent_id IS NULL
ORDER BY d.id, v.sort;
