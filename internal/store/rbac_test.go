package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// TestRBACStore runs the roles, departments and menus suite on SQLite, and
// on PostgreSQL when PADDOCK_TEST_POSTGRES_DSN is set.
func TestRBACStore(t *testing.T) {
	runSuite(t, []suiteCase{
		{"Roles", testRoles},
		{"DeptTree", testDeptTree},
		{"MenuTree", testMenuTree},
		{"Permissions", testPermissions},
	})
}

func testRoles(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewRBACService(f.db)
	r := &paddock.SysRole{Name: "Auditors", Code: "auditor", Description: "reads logs", Enabled: true}
	if err := s.CreateSysRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.SysRole(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("role (-want +got):\n%s", diff)
	}
	err = s.CreateSysRole(ctx, &paddock.SysRole{Name: "Auditors", Code: "other"})
	wantCode(t, err, paddock.EConflict)
	if !contains(err, "name") {
		t.Errorf("duplicate name: %v", err)
	}
	err = s.CreateSysRole(ctx, &paddock.SysRole{Name: "Other", Code: "auditor"})
	wantCode(t, err, paddock.EConflict)
	if !contains(err, "code") {
		t.Errorf("duplicate code: %v", err)
	}
	wantCode(t, s.CreateSysRole(ctx, &paddock.SysRole{Name: " ", Code: "x"}), paddock.EInvalid)

	r2 := &paddock.SysRole{Name: "Operators", Code: "operator"}
	if err := s.CreateSysRole(ctx, r2); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateSysRole(ctx, r2.ID, paddock.SysRoleUpdate{Code: ptr("auditor")})
	wantCode(t, err, paddock.EConflict)
	up, err := s.UpdateSysRole(ctx, r2.ID, paddock.SysRoleUpdate{Enabled: ptr(true), Description: ptr("runs things")})
	if err != nil || !up.Enabled || up.Description != "runs things" || up.Name != "Operators" {
		t.Fatalf("update: %+v, %v", up, err)
	}
	_, err = s.UpdateSysRole(ctx, 999, paddock.SysRoleUpdate{Enabled: ptr(true)})
	wantCode(t, err, paddock.ENotFound)

	page, total, err := s.SysRoles(ctx, paddock.SysRoleFilter{Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(page) != 1 || page[0].ID != r2.ID {
		t.Fatalf("page: %v %d %v", page, total, err)
	}
	if named, total, err := s.SysRoles(ctx, paddock.SysRoleFilter{Name: ptr("Auditors")}); err != nil || total != 1 || named[0].ID != r.ID {
		t.Fatalf("by name: %v %d %v", named, total, err)
	}

	// Users' roles: set, listed per user, removed with the role.
	alice, bob := mustCreateUser(t, f.db, "alice"), mustCreateUser(t, f.db, "bob")
	if err := s.SetUserRoles(ctx, alice.ID, []int64{r2.ID, r.ID, r.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserRoles(ctx, bob.ID, []int64{r2.ID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetUserRoles(ctx, bob.ID, []int64{r.ID, 999}), paddock.EInvalid)
	wantCode(t, s.SetUserRoles(ctx, 999, []int64{r.ID}), paddock.ENotFound)
	roles, err := s.UserRoles(ctx, alice.ID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []*paddock.SysRole) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if diff := cmp.Diff(map[int64][]int64{alice.ID: {r.ID, r2.ID}, bob.ID: {r2.ID}},
		map[int64][]int64{alice.ID: ids(roles[alice.ID]), bob.ID: ids(roles[bob.ID])}); diff != "" {
		t.Errorf("user roles (-want +got):\n%s", diff)
	}
	if only, _ := s.UserRoles(ctx, bob.ID); len(only) != 1 {
		t.Errorf("roles of bob alone: %v", only)
	}
	if err := s.DeleteSysRole(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteSysRole(ctx, r2.ID), paddock.ENotFound)
	if roles, _ := s.UserRoles(ctx, alice.ID, bob.ID); len(roles[alice.ID]) != 1 || len(roles[bob.ID]) != 0 {
		t.Errorf("roles after deleting one: %v", roles)
	}
}

// contains reports whether err's message contains sub.
func contains(err error, sub string) bool { return strings.Contains(paddock.ErrorMessage(err), sub) }

func testDeptTree(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewRBACService(f.db)
	mk := func(name string, parent int64) *paddock.Dept {
		t.Helper()
		d := &paddock.Dept{Name: name, ParentID: parent, Enabled: true}
		if err := s.CreateDept(ctx, d); err != nil {
			t.Fatalf("CreateDept(%s): %v", name, err)
		}
		return d
	}
	hq := mk("HQ", 0)
	eng := mk("Engineering", hq.ID)
	infra := mk("Infrastructure", eng.ID)
	wantCode(t, s.CreateDept(ctx, &paddock.Dept{Name: "Orphan", ParentID: 999}), paddock.EInvalid)
	wantCode(t, s.CreateDept(ctx, &paddock.Dept{Name: ""}), paddock.EInvalid)

	// Cycles are refused: under itself, under a child, under a grandchild.
	for _, parent := range []int64{hq.ID, eng.ID, infra.ID} {
		_, err := s.UpdateDept(ctx, hq.ID, paddock.DeptUpdate{ParentID: &parent})
		wantCode(t, err, paddock.EInvalid)
	}
	_, err := s.UpdateDept(ctx, eng.ID, paddock.DeptUpdate{ParentID: ptr(int64(999))})
	wantCode(t, err, paddock.EInvalid)
	_, err = s.UpdateDept(ctx, 999, paddock.DeptUpdate{Name: ptr("x")})
	wantCode(t, err, paddock.ENotFound)
	// A legal move: infra to the root, then back under HQ, with other fields.
	d, err := s.UpdateDept(ctx, infra.ID, paddock.DeptUpdate{ParentID: ptr(int64(0))})
	if err != nil || d.ParentID != 0 {
		t.Fatalf("move to root: %+v %v", d, err)
	}
	d, err = s.UpdateDept(ctx, infra.ID, paddock.DeptUpdate{ParentID: &hq.ID, Sort: ptr(5), Leader: ptr("Ivy"), Enabled: ptr(false)})
	if err != nil || d.ParentID != hq.ID || d.Sort != 5 || d.Leader != "Ivy" || d.Enabled {
		t.Fatalf("move under HQ: %+v %v", d, err)
	}
	all, err := s.Depts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range all {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"HQ", "Engineering", "Infrastructure"}, names); diff != "" {
		t.Errorf("departments in order (-want +got):\n%s", diff)
	}

	// Deletes: not with children, not with users.
	wantCode(t, s.DeleteDept(ctx, hq.ID), paddock.EConflict)
	users := store.NewUserService(f.db)
	u := &paddock.User{Username: "erin", Role: paddock.RoleUser, DeptID: eng.ID}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, _ := users.User(ctx, u.ID); got.DeptID != eng.ID {
		t.Errorf("user dept %d, want %d", got.DeptID, eng.ID)
	}
	wantCode(t, users.CreateUser(ctx, &paddock.User{Username: "nodept", DeptID: 999}), paddock.EInvalid)
	_, err = users.UpdateUser(ctx, u.ID, paddock.UserUpdate{DeptID: ptr(int64(999))})
	wantCode(t, err, paddock.EInvalid)
	err = s.DeleteDept(ctx, eng.ID)
	wantCode(t, err, paddock.EConflict)
	if !contains(err, "users") {
		t.Errorf("delete with users: %v", err)
	}
	if got, err := users.UpdateUser(ctx, u.ID, paddock.UserUpdate{DeptID: ptr(int64(0))}); err != nil || got.DeptID != 0 {
		t.Fatalf("leave department: %+v %v", got, err)
	}
	if err := s.DeleteDept(ctx, eng.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteDept(ctx, eng.ID), paddock.ENotFound)
	if err := s.DeleteDept(ctx, infra.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDept(ctx, hq.ID); err != nil {
		t.Fatal(err)
	}
}

func testMenuTree(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewRBACService(f.db)
	seeded, err := s.Menus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perms := map[string]bool{}
	for _, m := range seeded {
		if m.Permission != "" {
			perms[m.Permission] = true
			if m.Type != paddock.MenuButton || m.ParentID == 0 || !m.Enabled {
				t.Errorf("seeded menu %+v", m)
			}
		}
	}
	for _, p := range []string{"sys:user:list", "sys:role:edit", "sys:dept:del", "sys:menu:add", "log:login:list", "log:opera:del",
		"monitor:server", "monitor:redis", "credits:add", "gen:business:list", "gen:business:generate"} {
		if !perms[p] {
			t.Errorf("no seeded menu carries %s", p)
		}
	}
	if len(perms) != 28 {
		t.Errorf("%d seeded permissions, want 28", len(perms))
	}

	dir := &paddock.Menu{Title: "Reports", Type: paddock.MenuDirectory, Enabled: true}
	if err := s.CreateMenu(ctx, dir); err != nil {
		t.Fatal(err)
	}
	page := &paddock.Menu{ParentID: dir.ID, Title: "Usage", Type: paddock.MenuMenu, Path: "/reports/usage", Enabled: true}
	if err := s.CreateMenu(ctx, page); err != nil {
		t.Fatal(err)
	}
	btn := &paddock.Menu{ParentID: page.ID, Title: "Export", Type: paddock.MenuButton, Permission: "report:export", Enabled: true}
	if err := s.CreateMenu(ctx, btn); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateMenu(ctx, &paddock.Menu{Title: "Bad", Type: "link"}), paddock.EInvalid)
	wantCode(t, s.CreateMenu(ctx, &paddock.Menu{Title: "Orphan", Type: paddock.MenuMenu, ParentID: 99999}), paddock.EInvalid)

	_, err = s.UpdateMenu(ctx, dir.ID, paddock.MenuUpdate{ParentID: &btn.ID})
	wantCode(t, err, paddock.EInvalid)
	_, err = s.UpdateMenu(ctx, page.ID, paddock.MenuUpdate{Type: ptr("nope")})
	wantCode(t, err, paddock.EInvalid)
	m, err := s.UpdateMenu(ctx, btn.ID, paddock.MenuUpdate{ParentID: &dir.ID, Permission: ptr("report:export,report:print"), Icon: ptr("printer")})
	if err != nil || m.ParentID != dir.ID || m.Permission != "report:export,report:print" || m.Icon != "printer" || m.Title != "Export" {
		t.Fatalf("update menu: %+v %v", m, err)
	}
	if got, err := s.Menu(ctx, btn.ID); err != nil || got.ParentID != dir.ID {
		t.Fatalf("Menu: %+v %v", got, err)
	}
	wantCode(t, s.DeleteMenu(ctx, dir.ID), paddock.EConflict)
	if err := s.DeleteMenu(ctx, btn.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMenu(ctx, page.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMenu(ctx, dir.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Menu(ctx, dir.ID)
	wantCode(t, err, paddock.ENotFound)
}

func testPermissions(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewRBACService(f.db)
	menus, err := s.Menus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byPerm := map[string]int64{}
	for _, m := range menus {
		byPerm[m.Permission] = m.ID
	}
	alice := mustCreateUser(t, f.db, "alice")
	perms := func() []string {
		t.Helper()
		p, err := s.UserPermissions(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := perms(); len(p) != 0 {
		t.Errorf("permissions without roles: %v", p)
	}
	auditor := &paddock.SysRole{Name: "Auditors", Code: "auditor", Enabled: true}
	if err := s.CreateSysRole(ctx, auditor); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetRoleMenus(ctx, auditor.ID, []int64{byPerm["log:login:list"], 99999}), paddock.EInvalid)
	wantCode(t, s.SetRoleMenus(ctx, 999, nil), paddock.ENotFound)
	if err := s.SetRoleMenus(ctx, auditor.ID, []int64{byPerm["log:opera:list"], byPerm["log:login:list"], byPerm["log:login:list"]}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RoleMenus(ctx, auditor.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dedupeSorted(byPerm["log:login:list"], byPerm["log:opera:list"]), got); diff != "" {
		t.Errorf("role menus (-want +got):\n%s", diff)
	}
	_, err = s.RoleMenus(ctx, 999)
	wantCode(t, err, paddock.ENotFound)

	// A second role, with a menu of two permissions, overlapping the first.
	ops := &paddock.SysRole{Name: "Operators", Code: "operator", Enabled: true}
	if err := s.CreateSysRole(ctx, ops); err != nil {
		t.Fatal(err)
	}
	both := &paddock.Menu{Title: "Both", Type: paddock.MenuButton, Permission: "monitor:server, log:login:list", Enabled: true}
	if err := s.CreateMenu(ctx, both); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRoleMenus(ctx, ops.ID, []int64{both.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserRoles(ctx, alice.ID, []int64{auditor.ID, ops.ID}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"log:login:list", "log:opera:list", "monitor:server"}, perms()); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	// A disabled role grants nothing; nor does a disabled menu.
	if _, err := s.UpdateSysRole(ctx, auditor.ID, paddock.SysRoleUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"log:login:list", "monitor:server"}, perms()); diff != "" {
		t.Errorf("permissions, auditor disabled (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateMenu(ctx, both.ID, paddock.MenuUpdate{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if p := perms(); len(p) != 0 {
		t.Errorf("permissions, all disabled: %v", p)
	}
	if _, err := s.UpdateSysRole(ctx, auditor.ID, paddock.SysRoleUpdate{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// Deleting a menu ends its grants; deleting the user its roles.
	if err := s.DeleteMenu(ctx, byPerm["log:opera:list"]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"log:login:list"}, perms()); diff != "" {
		t.Errorf("permissions after menu delete (-want +got):\n%s", diff)
	}
	if err := store.NewUserService(f.db).DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if p := perms(); len(p) != 0 {
		t.Errorf("permissions of a deleted user: %v", p)
	}
}

func dedupeSorted(a, b int64) []int64 {
	if a > b {
		a, b = b, a
	}
	return []int64{a, b}
}
