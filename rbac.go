package paddock

import (
	"context"
	"time"
)

// Role-based access to the admin back office (seed 003 /api/v1/admin/sys).
//
// A SysRole grants menus; a menu may carry a permission string such as
// "sys:user:add". A user holds permission P when one of its enabled roles
// grants an enabled menu whose Permission lists P. Users whose Role is
// RoleAdmin hold every permission, whatever their SysRoles.

// Menu types.
const (
	MenuDirectory = "directory" // a group of menus
	MenuMenu      = "menu"      // a page
	MenuButton    = "button"    // an action on a page; usually carries a permission
)

// ValidMenuType reports whether t is a known menu type.
func ValidMenuType(t string) bool { return t == MenuDirectory || t == MenuMenu || t == MenuButton }

// SysRole is a named set of menus, and so of permissions, given to users.
// (Role is the built-in admin/user distinction.)
type SysRole struct {
	ID          int64
	Name        string // unique
	Code        string // unique, e.g. "auditor"
	Description string
	Enabled     bool // a disabled role grants nothing
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SysRoleFilter selects roles. Zero fields do not filter.
type SysRoleFilter struct {
	IDs    []int64
	Name   *string
	Offset int
	Limit  int // 0 means no limit
}

// SysRoleUpdate holds the fields to change; nil fields are left alone.
type SysRoleUpdate struct {
	Name        *string
	Code        *string
	Description *string
	Enabled     *bool
}

// Dept is a department, a node of the department tree.
type Dept struct {
	ID        int64
	ParentID  int64 // 0 for a root
	Name      string
	Sort      int
	Leader    string
	Phone     string
	Email     string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeptUpdate holds the fields to change; nil fields are left alone. A
// ParentID of 0 makes the department a root.
type DeptUpdate struct {
	ParentID *int64
	Name     *string
	Sort     *int
	Leader   *string
	Phone    *string
	Email    *string
	Enabled  *bool
}

// Menu is a node of the menu tree: a directory, a page or a button.
type Menu struct {
	ID         int64
	ParentID   int64 // 0 for a root
	Title      string
	Name       string
	Path       string
	Type       string // MenuDirectory, MenuMenu or MenuButton
	Sort       int
	Icon       string
	Permission string // e.g. "sys:user:add"; several are separated by commas; may be empty
	Enabled    bool   // a disabled menu grants nothing
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// MenuUpdate holds the fields to change; nil fields are left alone. A
// ParentID of 0 makes the menu a root.
type MenuUpdate struct {
	ParentID   *int64
	Title      *string
	Name       *string
	Path       *string
	Type       *string
	Sort       *int
	Icon       *string
	Permission *string
	Enabled    *bool
}

// RBACService stores roles, departments and menus, and answers which
// permissions a user holds. Unknown ids are ENotFound; a duplicate role
// name or code is EConflict; a reference to an unknown parent, role or
// menu is EInvalid. Moving a department or menu under itself or one of its
// descendants is EInvalid; deleting one that has children (or, for a
// department, users) is EConflict.
type RBACService interface {
	SysRole(ctx context.Context, id int64) (*SysRole, error)
	SysRoles(ctx context.Context, filter SysRoleFilter) ([]*SysRole, int, error)
	CreateSysRole(ctx context.Context, r *SysRole) error
	UpdateSysRole(ctx context.Context, id int64, upd SysRoleUpdate) (*SysRole, error)
	DeleteSysRole(ctx context.Context, id int64) error
	// RoleMenus returns the ids of the menus a role grants, in order.
	RoleMenus(ctx context.Context, roleID int64) ([]int64, error)
	// SetRoleMenus replaces the menus a role grants.
	SetRoleMenus(ctx context.Context, roleID int64, menuIDs []int64) error

	// UserRoles returns the roles of each of the given users.
	UserRoles(ctx context.Context, userIDs ...int64) (map[int64][]*SysRole, error)
	// SetUserRoles replaces a user's roles.
	SetUserRoles(ctx context.Context, userID int64, roleIDs []int64) error
	// UserPermissions returns the permission strings the enabled roles of a
	// user grant through enabled menus, sorted, without duplicates. It does
	// not know about RoleAdmin.
	UserPermissions(ctx context.Context, userID int64) ([]string, error)

	Dept(ctx context.Context, id int64) (*Dept, error)
	// Depts returns every department, ordered by parent, sort and id.
	Depts(ctx context.Context) ([]*Dept, error)
	CreateDept(ctx context.Context, d *Dept) error
	UpdateDept(ctx context.Context, id int64, upd DeptUpdate) (*Dept, error)
	DeleteDept(ctx context.Context, id int64) error

	Menu(ctx context.Context, id int64) (*Menu, error)
	// Menus returns every menu, ordered by parent, sort and id.
	Menus(ctx context.Context) ([]*Menu, error)
	CreateMenu(ctx context.Context, m *Menu) error
	UpdateMenu(ctx context.Context, id int64, upd MenuUpdate) (*Menu, error)
	DeleteMenu(ctx context.Context, id int64) error
}
