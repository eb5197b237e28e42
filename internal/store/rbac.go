package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/paddockhq/paddock"
)

var _ paddock.RBACService = (*RBACService)(nil)

// RBACService stores roles, departments and menus. It implements
// paddock.RBACService.
type RBACService struct {
	db *DB
}

// NewRBACService returns an RBACService backed by db.
func NewRBACService(db *DB) *RBACService { return &RBACService{db: db} }

// maxTreeDepth bounds the walk up a tree when checking a move; a longer
// chain of parents can only be a cycle the store did not prevent.
const maxTreeDepth = 1000

// nullID returns an id as a query argument: 0 is NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Roles.

const roleColumns = "id, name, code, description, enabled, created_at, updated_at"

func scanRole(row interface{ Scan(...any) error }) (*paddock.SysRole, error) {
	var r paddock.SysRole
	if err := row.Scan(&r.ID, &r.Name, &r.Code, &r.Description, &r.Enabled, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt}); err != nil {
		return nil, err
	}
	return &r, nil
}

// roleWriteError translates a unique violation to EConflict naming the
// taken name or code.
func roleWriteError(err error, name, code, what string) error {
	if v, detail := constraintOf(err); v == uniqueViolation {
		if strings.Contains(detail, "code") {
			return paddock.Errorf(paddock.EConflict, "role code %q is taken", code)
		}
		return paddock.Errorf(paddock.EConflict, "role name %q is taken", name)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// SysRole returns the role with the given id, or ENotFound.
func (s *RBACService) SysRole(ctx context.Context, id int64) (*paddock.SysRole, error) {
	r, err := scanRole(s.db.reader().queryRow(ctx, "SELECT "+roleColumns+" FROM roles WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("role %d not found", id), fmt.Sprintf("role %d", id))
	}
	return r, nil
}

// SysRoles returns a page of roles ordered by id and the number of roles
// the filter selects in all.
func (s *RBACService) SysRoles(ctx context.Context, f paddock.SysRoleFilter) ([]*paddock.SysRole, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if f.Name != nil {
		where, args = append(where, "name = ?"), append(args, *f.Name)
	}
	roles, total, err := listPage(ctx, s.db, "roles", roleColumns, where, args, "id", f.Offset, f.Limit, scanRole)
	if err != nil {
		return nil, 0, fmt.Errorf("list roles: %w", err)
	}
	return roles, total, nil
}

// CreateSysRole stores r and sets its ID and times. Name and code are
// required (EInvalid) and unique (EConflict).
func (s *RBACService) CreateSysRole(ctx context.Context, r *paddock.SysRole) error {
	if strings.TrimSpace(r.Name) == "" || strings.TrimSpace(r.Code) == "" {
		return paddock.Errorf(paddock.EInvalid, "a role needs a name and a code")
	}
	r.CreatedAt = normTime(s.db.now())
	r.UpdatedAt = r.CreatedAt
	err := s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, "INSERT INTO roles (name, code, description, enabled, created_at, updated_at) VALUES ("+
			placeholders(6)+") RETURNING id", r.Name, r.Code, r.Description, r.Enabled, s.db.timeArg(r.CreatedAt), s.db.timeArg(r.UpdatedAt)).Scan(&r.ID)
	})
	if err != nil {
		return roleWriteError(err, r.Name, r.Code, fmt.Sprintf("create role %q", r.Name))
	}
	return nil
}

// UpdateSysRole applies the non-nil fields of upd and returns the role.
func (s *RBACService) UpdateSysRole(ctx context.Context, id int64, upd paddock.SysRoleUpdate) (*paddock.SysRole, error) {
	var set []string
	var args []any
	if upd.Name != nil {
		if strings.TrimSpace(*upd.Name) == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "a role's name must not be empty")
		}
		set, args = append(set, "name = ?"), append(args, *upd.Name)
	}
	if upd.Code != nil {
		if strings.TrimSpace(*upd.Code) == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "a role's code must not be empty")
		}
		set, args = append(set, "code = ?"), append(args, *upd.Code)
	}
	if upd.Description != nil {
		set, args = append(set, "description = ?"), append(args, *upd.Description)
	}
	if upd.Enabled != nil {
		set, args = append(set, "enabled = ?"), append(args, *upd.Enabled)
	}
	if len(set) == 0 {
		return s.SysRole(ctx, id)
	}
	set, args = append(set, "updated_at = ?"), append(args, s.db.timeArg(s.db.now()))
	r, err := writeValue(ctx, s.db, func(c conn) (*paddock.SysRole, error) {
		return scanRole(c.queryRow(ctx, "UPDATE roles SET "+strings.Join(set, ", ")+" WHERE id = ? RETURNING "+roleColumns, append(args, id)...))
	})
	if err != nil {
		if v, _ := constraintOf(err); v == uniqueViolation {
			return nil, roleWriteError(err, deref(upd.Name), deref(upd.Code), "")
		}
		return nil, notFound(err, fmt.Sprintf("role %d not found", id), fmt.Sprintf("update role %d", id))
	}
	return r, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DeleteSysRole deletes a role; its users lose it and its menu grants go.
func (s *RBACService) DeleteSysRole(ctx context.Context, id int64) error {
	res, err := s.db.exec(ctx, "DELETE FROM roles WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete role %d: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("role %d not found", id))
}

// RoleMenus returns the ids of the menus a role grants, ascending.
func (s *RBACService) RoleMenus(ctx context.Context, roleID int64) ([]int64, error) {
	ids := []int64{}
	err := s.db.inReadTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, "roles", "role", roleID); err != nil {
			return err
		}
		var err error
		ids, err = queryIDs(ctx, tx, "SELECT menu_id FROM role_menus WHERE role_id = ? ORDER BY menu_id", roleID)
		return err
	})
	return ids, err
}

// SetRoleMenus replaces the menus a role grants. An unknown role is
// ENotFound, an unknown menu EInvalid.
func (s *RBACService) SetRoleMenus(ctx context.Context, roleID int64, menuIDs []int64) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, "roles", "role", roleID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM role_menus WHERE role_id = ?", roleID); err != nil {
			return fmt.Errorf("set role %d menus: %w", roleID, err)
		}
		for _, id := range dedupe(menuIDs) {
			// Inserting through a SELECT adds nothing for an unknown menu,
			// rather than failing the transaction on a foreign key.
			res, err := tx.exec(ctx, "INSERT INTO role_menus (role_id, menu_id) SELECT ?, id FROM menus WHERE id = ?", roleID, id)
			if err != nil {
				return fmt.Errorf("set role %d menus: %w", roleID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return paddock.Errorf(paddock.EInvalid, "menu %d does not exist", id)
			}
		}
		return nil
	})
}

// UserRoles returns the roles of each of the given users, by id.
func (s *RBACService) UserRoles(ctx context.Context, userIDs ...int64) (map[int64][]*paddock.SysRole, error) {
	out := map[int64][]*paddock.SysRole{}
	if len(userIDs) == 0 {
		return out, nil
	}
	// One query of a fixed shape for a page of users: the range of their
	// ids, filtered here.
	want := map[int64]bool{}
	lo, hi := userIDs[0], userIDs[0]
	for _, id := range userIDs {
		want[id] = true
		lo, hi = min(lo, id), max(hi, id)
	}
	rows, err := s.db.reader().query(ctx, "SELECT ur.user_id, r.id, r.name, r.code, r.description, r.enabled, r.created_at, r.updated_at"+
		" FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id BETWEEN ? AND ? ORDER BY ur.user_id, r.id", lo, hi)
	if err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var r paddock.SysRole
		if err := rows.Scan(&uid, &r.ID, &r.Name, &r.Code, &r.Description, &r.Enabled, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("user roles: %w", err)
		}
		if want[uid] {
			out[uid] = append(out[uid], &r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	return out, nil
}

// SetUserRoles replaces a user's roles. An unknown user is ENotFound, an
// unknown role EInvalid.
func (s *RBACService) SetUserRoles(ctx context.Context, userID int64, roleIDs []int64) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, "users", "user", userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM user_roles WHERE user_id = ?", userID); err != nil {
			return fmt.Errorf("set user %d roles: %w", userID, err)
		}
		for _, id := range dedupe(roleIDs) {
			res, err := tx.exec(ctx, "INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE id = ?", userID, id)
			if err != nil {
				return fmt.Errorf("set user %d roles: %w", userID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return paddock.Errorf(paddock.EInvalid, "role %d does not exist", id)
			}
		}
		return nil
	})
}

// UserPermissions returns the permissions the user's enabled roles grant
// through enabled menus, in one query.
func (s *RBACService) UserPermissions(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.reader().query(ctx, `SELECT DISTINCT m.permission FROM user_roles ur
		JOIN roles r ON r.id = ur.role_id
		JOIN role_menus rm ON rm.role_id = r.id
		JOIN menus m ON m.id = rm.menu_id
		WHERE ur.user_id = ? AND r.enabled = ? AND m.enabled = ? AND m.permission <> ''`, userID, true, true)
	if err != nil {
		return nil, fmt.Errorf("user %d permissions: %w", userID, err)
	}
	defer rows.Close()
	perms := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("user %d permissions: %w", userID, err)
		}
		for _, one := range strings.Split(p, ",") {
			if one = strings.TrimSpace(one); one != "" {
				perms = append(perms, one)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user %d permissions: %w", userID, err)
	}
	slices.Sort(perms)
	return slices.Compact(perms), nil
}

// Departments.

const deptColumns = "id, parent_id, name, sort, leader, phone, email, enabled, created_at, updated_at"

func scanDept(row interface{ Scan(...any) error }) (*paddock.Dept, error) {
	var d paddock.Dept
	var parent sql.NullInt64
	if err := row.Scan(&d.ID, &parent, &d.Name, &d.Sort, &d.Leader, &d.Phone, &d.Email, &d.Enabled,
		timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}); err != nil {
		return nil, err
	}
	d.ParentID = parent.Int64
	return &d, nil
}

// Dept returns the department with the given id, or ENotFound.
func (s *RBACService) Dept(ctx context.Context, id int64) (*paddock.Dept, error) {
	d, err := scanDept(s.db.reader().queryRow(ctx, "SELECT "+deptColumns+" FROM depts WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("department %d not found", id), fmt.Sprintf("department %d", id))
	}
	return d, nil
}

// Depts returns every department, ordered by parent, sort and id.
func (s *RBACService) Depts(ctx context.Context) ([]*paddock.Dept, error) {
	depts, _, err := listPage(ctx, s.db, "depts", deptColumns, nil, nil, "COALESCE(parent_id, 0), sort, id", 0, 0, scanDept)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return depts, nil
}

// CreateDept stores d and sets its ID and times. The name is required and
// the parent, when not 0, must exist (else EInvalid).
func (s *RBACService) CreateDept(ctx context.Context, d *paddock.Dept) error {
	if strings.TrimSpace(d.Name) == "" {
		return paddock.Errorf(paddock.EInvalid, "a department needs a name")
	}
	d.CreatedAt = normTime(s.db.now())
	d.UpdatedAt = d.CreatedAt
	err := s.db.inTx(ctx, func(tx conn) error {
		if err := parentExists(ctx, tx, "depts", "department", d.ParentID); err != nil {
			return err
		}
		return tx.queryRow(ctx, "INSERT INTO depts (parent_id, name, sort, leader, phone, email, enabled, created_at, updated_at) VALUES ("+
			placeholders(9)+") RETURNING id", nullID(d.ParentID), d.Name, d.Sort, d.Leader, d.Phone, d.Email, d.Enabled,
			s.db.timeArg(d.CreatedAt), s.db.timeArg(d.UpdatedAt)).Scan(&d.ID)
	})
	if err != nil && paddock.ErrorCode(err) == paddock.EInternal {
		return fmt.Errorf("create department %q: %w", d.Name, err)
	}
	return err
}

// UpdateDept applies the non-nil fields of upd and returns the
// department. Moving it under itself or a descendant is EInvalid.
func (s *RBACService) UpdateDept(ctx context.Context, id int64, upd paddock.DeptUpdate) (*paddock.Dept, error) {
	var set []string
	var args []any
	if upd.ParentID != nil {
		set, args = append(set, "parent_id = ?"), append(args, nullID(*upd.ParentID))
	}
	if upd.Name != nil {
		if strings.TrimSpace(*upd.Name) == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "a department's name must not be empty")
		}
		set, args = append(set, "name = ?"), append(args, *upd.Name)
	}
	for _, f := range []struct {
		col string
		v   *string
	}{{"leader", upd.Leader}, {"phone", upd.Phone}, {"email", upd.Email}} {
		if f.v != nil {
			set, args = append(set, f.col+" = ?"), append(args, *f.v)
		}
	}
	if upd.Sort != nil {
		set, args = append(set, "sort = ?"), append(args, *upd.Sort)
	}
	if upd.Enabled != nil {
		set, args = append(set, "enabled = ?"), append(args, *upd.Enabled)
	}
	return updateTreeNode(ctx, s.db, "depts", "department", deptColumns, id, upd.ParentID, set, args, scanDept)
}

// DeleteDept deletes a department that has no children and no users
// (else EConflict).
func (s *RBACService) DeleteDept(ctx context.Context, id int64) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, "depts", "department", id); err != nil {
			return err
		}
		if err := noChildren(ctx, tx, "depts", "department", id); err != nil {
			return err
		}
		var users int
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM users WHERE dept_id = ?", id).Scan(&users); err != nil {
			return fmt.Errorf("delete department %d: %w", id, err)
		}
		if users > 0 {
			return paddock.Errorf(paddock.EConflict, "department %d has %d users; move them to another department first", id, users)
		}
		if _, err := tx.exec(ctx, "DELETE FROM depts WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete department %d: %w", id, err)
		}
		return nil
	})
}

// Menus.

const menuColumns = "id, parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at"

func scanMenu(row interface{ Scan(...any) error }) (*paddock.Menu, error) {
	var m paddock.Menu
	var parent sql.NullInt64
	if err := row.Scan(&m.ID, &parent, &m.Title, &m.Name, &m.Path, &m.Type, &m.Sort, &m.Icon, &m.Permission, &m.Enabled,
		timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt}); err != nil {
		return nil, err
	}
	m.ParentID = parent.Int64
	return &m, nil
}

// Menu returns the menu with the given id, or ENotFound.
func (s *RBACService) Menu(ctx context.Context, id int64) (*paddock.Menu, error) {
	m, err := scanMenu(s.db.reader().queryRow(ctx, "SELECT "+menuColumns+" FROM menus WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("menu %d not found", id), fmt.Sprintf("menu %d", id))
	}
	return m, nil
}

// Menus returns every menu, ordered by parent, sort and id.
func (s *RBACService) Menus(ctx context.Context) ([]*paddock.Menu, error) {
	menus, _, err := listPage(ctx, s.db, "menus", menuColumns, nil, nil, "COALESCE(parent_id, 0), sort, id", 0, 0, scanMenu)
	if err != nil {
		return nil, fmt.Errorf("list menus: %w", err)
	}
	return menus, nil
}

// CreateMenu stores m and sets its ID and times. The title is required,
// the type must be valid and the parent, when not 0, must exist (else
// EInvalid).
func (s *RBACService) CreateMenu(ctx context.Context, m *paddock.Menu) error {
	if strings.TrimSpace(m.Title) == "" {
		return paddock.Errorf(paddock.EInvalid, "a menu needs a title")
	}
	if !paddock.ValidMenuType(m.Type) {
		return paddock.Errorf(paddock.EInvalid, "invalid menu type %q: want directory, menu or button", m.Type)
	}
	m.CreatedAt = normTime(s.db.now())
	m.UpdatedAt = m.CreatedAt
	err := s.db.inTx(ctx, func(tx conn) error {
		if err := parentExists(ctx, tx, "menus", "menu", m.ParentID); err != nil {
			return err
		}
		return tx.queryRow(ctx, "INSERT INTO menus (parent_id, title, name, path, type, sort, icon, permission, enabled, created_at, updated_at) VALUES ("+
			placeholders(11)+") RETURNING id", nullID(m.ParentID), m.Title, m.Name, m.Path, m.Type, m.Sort, m.Icon, m.Permission, m.Enabled,
			s.db.timeArg(m.CreatedAt), s.db.timeArg(m.UpdatedAt)).Scan(&m.ID)
	})
	if err != nil && paddock.ErrorCode(err) == paddock.EInternal {
		return fmt.Errorf("create menu %q: %w", m.Title, err)
	}
	return err
}

// UpdateMenu applies the non-nil fields of upd and returns the menu.
// Moving it under itself or a descendant is EInvalid.
func (s *RBACService) UpdateMenu(ctx context.Context, id int64, upd paddock.MenuUpdate) (*paddock.Menu, error) {
	var set []string
	var args []any
	if upd.ParentID != nil {
		set, args = append(set, "parent_id = ?"), append(args, nullID(*upd.ParentID))
	}
	if upd.Title != nil {
		if strings.TrimSpace(*upd.Title) == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "a menu's title must not be empty")
		}
		set, args = append(set, "title = ?"), append(args, *upd.Title)
	}
	if upd.Type != nil {
		if !paddock.ValidMenuType(*upd.Type) {
			return nil, paddock.Errorf(paddock.EInvalid, "invalid menu type %q: want directory, menu or button", *upd.Type)
		}
		set, args = append(set, "type = ?"), append(args, *upd.Type)
	}
	for _, f := range []struct {
		col string
		v   *string
	}{{"name", upd.Name}, {"path", upd.Path}, {"icon", upd.Icon}, {"permission", upd.Permission}} {
		if f.v != nil {
			set, args = append(set, f.col+" = ?"), append(args, *f.v)
		}
	}
	if upd.Sort != nil {
		set, args = append(set, "sort = ?"), append(args, *upd.Sort)
	}
	if upd.Enabled != nil {
		set, args = append(set, "enabled = ?"), append(args, *upd.Enabled)
	}
	return updateTreeNode(ctx, s.db, "menus", "menu", menuColumns, id, upd.ParentID, set, args, scanMenu)
}

// DeleteMenu deletes a menu that has no children (else EConflict); the
// roles that granted it no longer do.
func (s *RBACService) DeleteMenu(ctx context.Context, id int64) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, "menus", "menu", id); err != nil {
			return err
		}
		if err := noChildren(ctx, tx, "menus", "menu", id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM menus WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete menu %d: %w", id, err)
		}
		return nil
	})
}

// Trees and helpers.

// exists returns ENotFound unless table has a row with the id.
func exists(ctx context.Context, tx conn, table, what string, id int64) error {
	var one int
	err := tx.queryRow(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
	if err != nil {
		return notFound(err, fmt.Sprintf("%s %d not found", what, id), fmt.Sprintf("%s %d", what, id))
	}
	return nil
}

// parentExists returns EInvalid unless parentID is 0 or names a row of
// table.
func parentExists(ctx context.Context, tx conn, table, what string, parentID int64) error {
	if parentID == 0 {
		return nil
	}
	var one int
	err := tx.queryRow(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", parentID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return paddock.Errorf(paddock.EInvalid, "parent %s %d does not exist", what, parentID)
	}
	return err
}

// checkMove returns EInvalid when making parentID the parent of id would
// make a cycle (parentID is id or one of its descendants) or when
// parentID does not exist.
func checkMove(ctx context.Context, tx conn, table, what string, id, parentID int64) error {
	if parentID == id {
		return paddock.Errorf(paddock.EInvalid, "%s %d cannot be its own parent", what, id)
	}
	if err := parentExists(ctx, tx, table, what, parentID); err != nil {
		return err
	}
	for cur, n := parentID, 0; cur != 0; n++ {
		if n > maxTreeDepth {
			return fmt.Errorf("%s tree deeper than %d at %d", what, maxTreeDepth, cur)
		}
		var up sql.NullInt64
		if err := tx.queryRow(ctx, "SELECT parent_id FROM "+table+" WHERE id = ?", cur).Scan(&up); err != nil {
			return fmt.Errorf("walk up the %s tree: %w", what, err)
		}
		if up.Int64 == id {
			return paddock.Errorf(paddock.EInvalid, "cannot move %s %d under %d: that would make a cycle, %[3]d being a descendant of %[2]d", what, id, parentID)
		}
		cur = up.Int64
	}
	return nil
}

// noChildren returns EConflict when rows of table have id as their parent.
func noChildren(ctx context.Context, tx conn, table, what string, id int64) error {
	var n int
	if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM "+table+" WHERE parent_id = ?", id).Scan(&n); err != nil {
		return fmt.Errorf("count children of %s %d: %w", what, id, err)
	}
	if n > 0 {
		return paddock.Errorf(paddock.EConflict, "%s %d has %d children; delete or move them first", what, id, n)
	}
	return nil
}

// queryIDs runs a query of one integer column.
func queryIDs(ctx context.Context, tx conn, q string, args ...any) ([]int64, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// dedupe returns ids sorted without duplicates.
func dedupe(ids []int64) []int64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// updateTreeNode applies set (with args) to node id of a tree table in one
// transaction and returns the node: it must exist (ENotFound), and a new
// parent must not be the node or one of its descendants (EInvalid).
func updateTreeNode[T any](ctx context.Context, db *DB, table, noun, columns string, id int64, parent *int64, set []string, args []any,
	scan func(interface{ Scan(...any) error }) (T, error)) (T, error) {
	var out T
	err := db.inTx(ctx, func(tx conn) error {
		if err := exists(ctx, tx, table, noun, id); err != nil {
			return err
		}
		if parent != nil {
			if err := checkMove(ctx, tx, table, noun, id, *parent); err != nil {
				return err
			}
		}
		var err error
		if len(set) == 0 {
			out, err = scan(tx.queryRow(ctx, "SELECT "+columns+" FROM "+table+" WHERE id = ?", id))
			return err
		}
		out, err = scan(tx.queryRow(ctx, "UPDATE "+table+" SET "+strings.Join(set, ", ")+", updated_at = ? WHERE id = ? RETURNING "+columns,
			append(args, db.timeArg(db.now()), id)...))
		return err
	})
	if err != nil && paddock.ErrorCode(err) == paddock.EInternal {
		return out, fmt.Errorf("update %s %d: %w", noun, id, err)
	}
	return out, err
}
