package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
)

// Roles, departments and menus (seed 003 /api/v1/admin/sys), and the
// permission check of the routes whose access is requires(...).

// checkPermission returns nil when u may use a route needing perm: admins
// hold every permission; other users the ones their enabled roles grant
// through enabled menus, read from the store on every request (one query),
// so that a change of roles or menus applies at once.
func (s *Server) checkPermission(r *http.Request, u *paddock.User, perm string) error {
	if u.IsAdmin() {
		return nil
	}
	if s.RBAC != nil {
		perms, err := s.RBAC.UserPermissions(r.Context(), u.ID)
		if err != nil {
			return err
		}
		if _, ok := slices.BinarySearch(perms, perm); ok {
			return nil
		}
	}
	return paddock.Errorf(paddock.EForbidden, "this operation requires the permission %q", perm)
}

// rbac returns the RBAC service, or EUnavailable when none is wired.
func (s *Server) rbac() (paddock.RBACService, error) {
	if s.RBAC == nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "roles, departments and menus are not available")
	}
	return s.RBAC, nil
}

func status(enabled bool) int {
	if enabled {
		return 1
	}
	return 0
}

// enabledOf validates a status field: 1 enabled, 0 disabled.
func enabledOf(field string, v *int, def bool) (bool, error) {
	if v == nil {
		return def, nil
	}
	if *v != 0 && *v != 1 {
		return false, paddock.Errorf(paddock.EInvalid, "field %q must be 1 (enabled) or 0 (disabled), not %d", field, *v)
	}
	return *v == 1, nil
}

func enabledPtr(field string, v *int) (*bool, error) {
	if v == nil {
		return nil, nil
	}
	b, err := enabledOf(field, v, false)
	return &b, err
}

func nonNegativeParent(v *int64) error {
	if v != nil && *v < 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"parent_id\" must not be negative")
	}
	return nil
}

// Roles.

type roleItem struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Code        string    `json:"code"`
	Description string    `json:"description"`
	Status      int       `json:"status" minimum:"0" maximum:"1"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toRoleItem(r *paddock.SysRole) roleItem {
	return roleItem{ID: r.ID, Name: r.Name, Code: r.Code, Description: r.Description, Status: status(r.Enabled),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type roleListParams struct {
	Page int    `query:"page" minimum:"1" default:"1"`
	Size int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	Name string `query:"name"`
}

type roleListResponse struct {
	Items []roleItem `json:"items"`
	Total int        `json:"total"`
	Page  int        `json:"page"`
	Size  int        `json:"size"`
}

type roleCreateRequest struct {
	Name        string `json:"name" required:"true" minLength:"1" maxLength:"64"`
	Code        string `json:"code" required:"true" pattern:"^[A-Za-z0-9_.:-]{1,64}$"`
	Description string `json:"description,omitempty"`
	Status      *int   `json:"status,omitempty" minimum:"0" maximum:"1" default:"1"`
}

type roleUpdateRequest struct {
	Name        *string `json:"name,omitempty" minLength:"1" maxLength:"64"`
	Code        *string `json:"code,omitempty" pattern:"^[A-Za-z0-9_.:-]{1,64}$"`
	Description *string `json:"description,omitempty"`
	Status      *int    `json:"status,omitempty" minimum:"0" maximum:"1"`
}

type roleMenusRequest struct {
	MenuIDs []int64 `json:"menu_ids" required:"true"`
}

type roleMenusResponse struct {
	RoleID  int64   `json:"role_id"`
	MenuIDs []int64 `json:"menu_ids"`
}

var roleCodeRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func validRoleName(v string) error {
	if strings.TrimSpace(v) == "" || len(v) > 64 {
		return paddock.Errorf(paddock.EInvalid, "field \"name\" must have 1 to 64 characters")
	}
	return nil
}

func validRoleCode(v string) error {
	if !roleCodeRE.MatchString(v) {
		return paddock.Errorf(paddock.EInvalid, "field \"code\" must be 1 to 64 letters, digits, '_', '.', ':' or '-'")
	}
	return nil
}

func (s *Server) handleRoleList(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	f := paddock.SysRoleFilter{Offset: (page - 1) * size, Limit: size}
	if v := r.URL.Query().Get("name"); v != "" {
		f.Name = &v
	}
	roles, total, err := rb.SysRoles(r.Context(), f)
	if err != nil {
		return err
	}
	out := roleListResponse{Items: make([]roleItem, len(roles)), Total: total, Page: page, Size: size}
	for i, ro := range roles {
		out.Items[i] = toRoleItem(ro)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRoleGet(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "role")
	if err != nil {
		return err
	}
	ro, err := rb.SysRole(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRoleItem(ro))
}

func (s *Server) handleRoleCreate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	var req roleCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validRoleName(req.Name); err != nil {
		return err
	}
	if err := validRoleCode(req.Code); err != nil {
		return err
	}
	enabled, err := enabledOf("status", req.Status, true)
	if err != nil {
		return err
	}
	ro := &paddock.SysRole{Name: strings.TrimSpace(req.Name), Code: req.Code, Description: req.Description, Enabled: enabled}
	if err := rb.CreateSysRole(r.Context(), ro); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toRoleItem(ro))
}

func (s *Server) handleRoleUpdate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "role")
	if err != nil {
		return err
	}
	var req roleUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	upd := paddock.SysRoleUpdate{Description: req.Description}
	if req.Name != nil {
		if err := validRoleName(*req.Name); err != nil {
			return err
		}
		name := strings.TrimSpace(*req.Name)
		upd.Name = &name
	}
	if req.Code != nil {
		if err := validRoleCode(*req.Code); err != nil {
			return err
		}
		upd.Code = req.Code
	}
	if upd.Enabled, err = enabledPtr("status", req.Status); err != nil {
		return err
	}
	ro, err := rb.UpdateSysRole(r.Context(), id, upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRoleItem(ro))
}

func (s *Server) handleRoleDelete(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "role")
	if err != nil {
		return err
	}
	if err := rb.DeleteSysRole(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRoleMenus(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "role")
	if err != nil {
		return err
	}
	ids, err := rb.RoleMenus(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, roleMenusResponse{RoleID: id, MenuIDs: ids})
}

func (s *Server) handleRoleMenusSet(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "role")
	if err != nil {
		return err
	}
	var req roleMenusRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.MenuIDs == nil {
		return paddock.Errorf(paddock.EInvalid, "field \"menu_ids\" is required (an empty list grants nothing)")
	}
	if err := rb.SetRoleMenus(r.Context(), id, req.MenuIDs); err != nil {
		return err
	}
	ids, err := rb.RoleMenus(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, roleMenusResponse{RoleID: id, MenuIDs: ids})
}

// Departments.

type deptNode struct {
	ID        int64      `json:"id"`
	ParentID  *int64     `json:"parent_id"` // null for a root
	Name      string     `json:"name"`
	Sort      int        `json:"sort"`
	Leader    string     `json:"leader"`
	Phone     string     `json:"phone"`
	Email     string     `json:"email"`
	Status    int        `json:"status" minimum:"0" maximum:"1"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Children  []deptNode `json:"children"`
}

func toDeptNode(d *paddock.Dept) deptNode {
	n := deptNode{ID: d.ID, Name: d.Name, Sort: d.Sort, Leader: d.Leader, Phone: d.Phone, Email: d.Email,
		Status: status(d.Enabled), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Children: []deptNode{}}
	if d.ParentID != 0 {
		p := d.ParentID
		n.ParentID = &p
	}
	return n
}

type deptTreeResponse struct {
	Items []deptNode `json:"items"`
}

type deptCreateRequest struct {
	ParentID *int64 `json:"parent_id,omitempty"` // null or 0: a root
	Name     string `json:"name" required:"true" minLength:"1" maxLength:"128"`
	Sort     int    `json:"sort,omitempty"`
	Leader   string `json:"leader,omitempty" maxLength:"64"`
	Phone    string `json:"phone,omitempty" maxLength:"32"`
	Email    string `json:"email,omitempty" format:"email"`
	Status   *int   `json:"status,omitempty" minimum:"0" maximum:"1" default:"1"`
}

type deptUpdateRequest struct {
	ParentID *int64  `json:"parent_id,omitempty"` // moves the department; 0 makes it a root
	Name     *string `json:"name,omitempty" minLength:"1" maxLength:"128"`
	Sort     *int    `json:"sort,omitempty"`
	Leader   *string `json:"leader,omitempty" maxLength:"64"`
	Phone    *string `json:"phone,omitempty" maxLength:"32"`
	Email    *string `json:"email,omitempty" format:"email"`
	Status   *int    `json:"status,omitempty" minimum:"0" maximum:"1"`
}

// tree nests the nodes of a flat list under their parents. Nodes come
// ordered by sort within each parent and keep that order; a node whose
// parent is missing is shown as a root.
func tree[N any](n int, id, parent func(i int) int64, node func(i int) N, setChildren func(*N, []N)) []N {
	children := map[int64][]int{}
	ids := map[int64]bool{}
	for i := range n {
		ids[id(i)] = true
	}
	var roots []int
	for i := range n {
		if p := parent(i); p != 0 && ids[p] {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	var build func(i int, depth int) N
	build = func(i int, depth int) N {
		nd := node(i)
		kids := []N{}
		if depth < 1000 { // the store refuses cycles; this bounds a corrupt tree
			for _, c := range children[id(i)] {
				kids = append(kids, build(c, depth+1))
			}
		}
		setChildren(&nd, kids)
		return nd
	}
	out := make([]N, 0, len(roots))
	for _, i := range roots {
		out = append(out, build(i, 0))
	}
	return out
}

func deptTree(depts []*paddock.Dept) []deptNode {
	return tree(len(depts), func(i int) int64 { return depts[i].ID }, func(i int) int64 { return depts[i].ParentID },
		func(i int) deptNode { return toDeptNode(depts[i]) }, func(n *deptNode, c []deptNode) { n.Children = c })
}

func (s *Server) handleDeptTree(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	depts, err := rb.Depts(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deptTreeResponse{Items: deptTree(depts)})
}

func validTitle(field, v string, max int) error {
	if strings.TrimSpace(v) == "" || len(v) > max {
		return paddock.Errorf(paddock.EInvalid, "field %q must have 1 to %d characters", field, max)
	}
	return nil
}

// validText checks an optional one-line text field (a title, a nickname, a
// path): UTF-8, at most max characters, no control characters. Empty is
// valid.
func validText(field, v string, max int) error {
	return checkText(fmt.Sprintf("field %q", field), v, max)
}

// checkText is validText for a value what names in errors (a form field,
// a query parameter). Text that is not UTF-8 comes only from forms and
// query strings (JSON decoding replaces such bytes): PostgreSQL would
// refuse it.
func checkText(what, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return paddock.Errorf(paddock.EInvalid, "%s is not UTF-8 text", what)
	case utf8.RuneCountInString(v) > max:
		return paddock.Errorf(paddock.EInvalid, "%s must be at most %d characters", what, max)
	case strings.ContainsFunc(v, unicode.IsControl):
		return paddock.Errorf(paddock.EInvalid, "%s must not contain control characters", what)
	}
	return nil
}

// validEmail checks an optional email address field: a bare address
// (user@example.com, no display name) of at most 254 characters.
func validEmail(field, v string) error {
	if v == "" {
		return nil
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || a.Name != "" || len(v) > 254 {
		return paddock.Errorf(paddock.EInvalid, "field %q must be an email address such as user@example.com, not %q", field, v)
	}
	return nil
}

// phoneRE matches a phone number as people write it: digits, spaces and
// + ( ) - . separators.
var phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{0,30}$`)

// validPhone checks an optional phone number field.
func validPhone(field, v string) error {
	if v != "" && !phoneRE.MatchString(v) {
		return paddock.Errorf(paddock.EInvalid, "field %q must be a phone number of at most 32 digits, spaces and + ( ) - . (e.g. +1 555-0100), not %q", field, v)
	}
	return nil
}

// validDeptContact checks a department's leader, phone and email.
func validDeptContact(leader, phone, email *string) error {
	if leader != nil {
		if err := validText("leader", *leader, 64); err != nil {
			return err
		}
	}
	if phone != nil {
		if err := validPhone("phone", *phone); err != nil {
			return err
		}
	}
	if email != nil {
		return validEmail("email", *email)
	}
	return nil
}

// validMenuFields checks a menu's name, path and icon.
func validMenuFields(name, path, icon *string) error {
	for _, f := range []struct {
		field string
		v     *string
		max   int
	}{{"name", name, 128}, {"path", path, 256}, {"icon", icon, 128}} {
		if f.v == nil {
			continue
		}
		if err := validText(f.field, *f.v, f.max); err != nil {
			return err
		}
		if f.field == "path" && strings.ContainsFunc(*f.v, unicode.IsSpace) {
			return paddock.Errorf(paddock.EInvalid, "field \"path\" must not contain spaces")
		}
	}
	return nil
}

func (s *Server) handleDeptCreate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	var req deptCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validTitle("name", req.Name, 128); err != nil {
		return err
	}
	if err := validDeptContact(&req.Leader, &req.Phone, &req.Email); err != nil {
		return err
	}
	if err := nonNegativeParent(req.ParentID); err != nil {
		return err
	}
	enabled, err := enabledOf("status", req.Status, true)
	if err != nil {
		return err
	}
	d := &paddock.Dept{Name: strings.TrimSpace(req.Name), Sort: req.Sort, Leader: req.Leader, Phone: req.Phone, Email: req.Email, Enabled: enabled}
	if req.ParentID != nil {
		d.ParentID = *req.ParentID
	}
	if err := rb.CreateDept(r.Context(), d); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toDeptNode(d))
}

func (s *Server) handleDeptUpdate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "department")
	if err != nil {
		return err
	}
	var req deptUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil {
		if err := validTitle("name", *req.Name, 128); err != nil {
			return err
		}
	}
	if err := validDeptContact(req.Leader, req.Phone, req.Email); err != nil {
		return err
	}
	if err := nonNegativeParent(req.ParentID); err != nil {
		return err
	}
	upd := paddock.DeptUpdate{ParentID: req.ParentID, Name: req.Name, Sort: req.Sort, Leader: req.Leader, Phone: req.Phone, Email: req.Email}
	if upd.Enabled, err = enabledPtr("status", req.Status); err != nil {
		return err
	}
	d, err := rb.UpdateDept(r.Context(), id, upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDeptNode(d))
}

func (s *Server) handleDeptDelete(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "department")
	if err != nil {
		return err
	}
	if err := rb.DeleteDept(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Menus.

type menuNode struct {
	ID         int64      `json:"id"`
	ParentID   *int64     `json:"parent_id"` // null for a root
	Title      string     `json:"title"`
	Name       string     `json:"name"`
	Path       string     `json:"path"`
	Type       string     `json:"type" enum:"directory,menu,button"`
	Sort       int        `json:"sort"`
	Icon       string     `json:"icon"`
	Permission string     `json:"permission"`
	Status     int        `json:"status" minimum:"0" maximum:"1"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Children   []menuNode `json:"children"`
}

func toMenuNode(m *paddock.Menu) menuNode {
	n := menuNode{ID: m.ID, Title: m.Title, Name: m.Name, Path: m.Path, Type: m.Type, Sort: m.Sort, Icon: m.Icon,
		Permission: m.Permission, Status: status(m.Enabled), CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Children: []menuNode{}}
	if m.ParentID != 0 {
		p := m.ParentID
		n.ParentID = &p
	}
	return n
}

type menuTreeResponse struct {
	Items []menuNode `json:"items"`
}

type menuCreateRequest struct {
	ParentID   *int64 `json:"parent_id,omitempty"` // null or 0: a root
	Title      string `json:"title" required:"true" minLength:"1" maxLength:"128"`
	Name       string `json:"name,omitempty"`
	Path       string `json:"path,omitempty"`
	Type       string `json:"type,omitempty" enum:"directory,menu,button" default:"menu"`
	Sort       int    `json:"sort,omitempty"`
	Icon       string `json:"icon,omitempty"`
	Permission string `json:"permission,omitempty"` // e.g. "sys:user:add"; several separated by commas
	Status     *int   `json:"status,omitempty" minimum:"0" maximum:"1" default:"1"`
}

type menuUpdateRequest struct {
	ParentID   *int64  `json:"parent_id,omitempty"` // moves the menu; 0 makes it a root
	Title      *string `json:"title,omitempty" minLength:"1" maxLength:"128"`
	Name       *string `json:"name,omitempty"`
	Path       *string `json:"path,omitempty"`
	Type       *string `json:"type,omitempty" enum:"directory,menu,button"`
	Sort       *int    `json:"sort,omitempty"`
	Icon       *string `json:"icon,omitempty"`
	Permission *string `json:"permission,omitempty"`
	Status     *int    `json:"status,omitempty" minimum:"0" maximum:"1"`
}

// permissionRE matches a menu's permission field: permission strings
// separated by commas.
var permissionRE = regexp.MustCompile(`^([A-Za-z0-9_.:*-]+(\s*,\s*[A-Za-z0-9_.:*-]+)*)?$`)

func validPermission(v string) error {
	if len(v) > 512 || !permissionRE.MatchString(strings.TrimSpace(v)) {
		return paddock.Errorf(paddock.EInvalid, "field \"permission\" must be permission strings such as sys:user:add, separated by commas")
	}
	return nil
}

func validMenuType(v string) error {
	if !paddock.ValidMenuType(v) {
		return paddock.Errorf(paddock.EInvalid, "field \"type\" must be directory, menu or button, not %q", v)
	}
	return nil
}

func menuTree(menus []*paddock.Menu) []menuNode {
	return tree(len(menus), func(i int) int64 { return menus[i].ID }, func(i int) int64 { return menus[i].ParentID },
		func(i int) menuNode { return toMenuNode(menus[i]) }, func(n *menuNode, c []menuNode) { n.Children = c })
}

func (s *Server) handleMenuTree(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	menus, err := rb.Menus(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, menuTreeResponse{Items: menuTree(menus)})
}

func (s *Server) handleMenuCreate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	var req menuCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validTitle("title", req.Title, 128); err != nil {
		return err
	}
	if req.Type == "" {
		req.Type = paddock.MenuMenu
	}
	if err := validMenuType(req.Type); err != nil {
		return err
	}
	if err := validPermission(req.Permission); err != nil {
		return err
	}
	if err := validMenuFields(&req.Name, &req.Path, &req.Icon); err != nil {
		return err
	}
	if err := nonNegativeParent(req.ParentID); err != nil {
		return err
	}
	enabled, err := enabledOf("status", req.Status, true)
	if err != nil {
		return err
	}
	m := &paddock.Menu{Title: strings.TrimSpace(req.Title), Name: req.Name, Path: req.Path, Type: req.Type, Sort: req.Sort, Icon: req.Icon,
		Permission: strings.TrimSpace(req.Permission), Enabled: enabled}
	if req.ParentID != nil {
		m.ParentID = *req.ParentID
	}
	if err := rb.CreateMenu(r.Context(), m); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toMenuNode(m))
}

func (s *Server) handleMenuUpdate(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "menu")
	if err != nil {
		return err
	}
	var req menuUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Title != nil {
		if err := validTitle("title", *req.Title, 128); err != nil {
			return err
		}
	}
	if req.Type != nil {
		if err := validMenuType(*req.Type); err != nil {
			return err
		}
	}
	if req.Permission != nil {
		if err := validPermission(*req.Permission); err != nil {
			return err
		}
		p := strings.TrimSpace(*req.Permission)
		req.Permission = &p
	}
	if err := validMenuFields(req.Name, req.Path, req.Icon); err != nil {
		return err
	}
	if err := nonNegativeParent(req.ParentID); err != nil {
		return err
	}
	upd := paddock.MenuUpdate{ParentID: req.ParentID, Title: req.Title, Name: req.Name, Path: req.Path, Type: req.Type, Sort: req.Sort,
		Icon: req.Icon, Permission: req.Permission}
	if upd.Enabled, err = enabledPtr("status", req.Status); err != nil {
		return err
	}
	m, err := rb.UpdateMenu(r.Context(), id, upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toMenuNode(m))
}

func (s *Server) handleMenuDelete(w http.ResponseWriter, r *http.Request) error {
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	id, err := pathID(r, "menu")
	if err != nil {
		return err
	}
	if err := rb.DeleteMenu(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Users' roles and departments.

// adminUsers renders users with their roles.
func (s *Server) adminUsers(ctx context.Context, users ...*paddock.User) ([]adminUser, error) {
	var roles map[int64][]*paddock.SysRole
	if s.RBAC != nil && len(users) > 0 {
		ids := make([]int64, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		var err error
		if roles, err = s.RBAC.UserRoles(ctx, ids...); err != nil {
			return nil, err
		}
	}
	out := make([]adminUser, len(users))
	for i, u := range users {
		out[i] = toAdminUser(u, roles[u.ID])
	}
	return out, nil
}

// checkRoleIDs returns EInvalid unless every id names a role.
func (s *Server) checkRoleIDs(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rb, err := s.rbac()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := rb.SysRole(ctx, id); err != nil {
			if paddock.ErrorCode(err) == paddock.ENotFound {
				return paddock.Errorf(paddock.EInvalid, "field \"role_ids\": role %d does not exist", id)
			}
			return err
		}
	}
	return nil
}
