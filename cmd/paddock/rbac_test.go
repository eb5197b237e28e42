package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRBAC: roles grant menus, menus carry permission strings, and the
// admin routes check them: a plain user is refused everywhere, an auditor
// role opens the log listings and nothing else, disabling the role closes
// them again; admins keep every permission. Departments and menus are
// trees that refuse cycles and the deletion of nodes with children.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	created := s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]string{"username": "ursula", "password": "password-ursula"}}).m(t)
	if created["role"] != "user" || len(created["role_ids"].([]any)) != 0 || created["dept_id"] != nil {
		t.Errorf("created user %v", created)
	}
	uid := jsonID(created)
	user := s.login(t, "ursula", "password-ursula")

	// Every admin route family refuses a plain user, naming the permission.
	type call struct {
		method, path string
		body         any
		perm         string
	}
	adminCalls := []call{
		{"GET", "/api/v1/admin/sys/users", nil, "sys:user:list"},
		{"POST", "/api/v1/admin/sys/users", map[string]string{"username": "x1", "password": "12345678"}, "sys:user:add"},
		{"PUT", fmt.Sprintf("/api/v1/admin/sys/users/%d", uid), map[string]string{"nickname": "U"}, "sys:user:edit"},
		{"DELETE", "/api/v1/admin/sys/users/1", nil, "sys:user:del"},
		{"GET", "/api/v1/admin/sys/roles", nil, "sys:role:list"},
		{"POST", "/api/v1/admin/sys/roles", map[string]string{"name": "r", "code": "r"}, "sys:role:add"},
		{"GET", "/api/v1/admin/sys/depts", nil, "sys:dept:list"},
		{"POST", "/api/v1/admin/sys/depts", map[string]string{"name": "d"}, "sys:dept:add"},
		{"GET", "/api/v1/admin/sys/menus", nil, "sys:menu:list"},
		{"DELETE", "/api/v1/admin/sys/menus/1", nil, "sys:menu:del"},
		{"GET", "/api/v1/admin/log/login-logs", nil, "log:login:list"},
		{"DELETE", "/api/v1/admin/log/login-logs/1", nil, "log:login:del"},
		{"GET", "/api/v1/admin/log/opera-logs", nil, "log:opera:list"},
		{"DELETE", "/api/v1/admin/log/opera-logs/1", nil, "log:opera:del"},
		{"GET", "/api/v1/admin/monitor/server", nil, "monitor:server"},
		{"GET", "/api/v1/admin/monitor/redis", nil, "monitor:redis"},
		{"POST", "/api/v1/agent/credits/add", map[string]any{"user_id": uid, "amount": 5}, "credits:add"},
		{"GET", "/api/v1/admin/gen/business", nil, "gen:business:list"},
		{"POST", "/api/v1/admin/gen/business", map[string]any{"app_name": "a", "table_name": "t", "columns": []map[string]string{{"name": "n", "type": "text"}}}, "gen:business:add"},
		{"PUT", "/api/v1/admin/gen/business/1", map[string]any{"app_name": "a", "table_name": "t", "columns": []map[string]string{{"name": "n", "type": "text"}}}, "gen:business:edit"},
		{"DELETE", "/api/v1/admin/gen/business/1", nil, "gen:business:del"},
		{"POST", "/api/v1/admin/gen/business/1/generate", nil, "gen:business:generate"},
	}
	for _, c := range adminCalls {
		r := s.expect(t, 403, req{method: c.method, path: c.path, token: user, body: c.body})
		if want := fmt.Sprintf("this operation requires the permission %q", c.perm); r.message(t) != want {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, r.message(t), want)
		}
	}

	// The built-in menus: a directory per family, a button per permission.
	menus := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/menus", token: admin}).m(t)["items"].([]any)
	perm := map[string]int64{}
	var dirs []string
	for _, d := range menus {
		dir := d.(map[string]any)
		dirs = append(dirs, dir["title"].(string))
		if dir["type"] != "directory" || dir["parent_id"] != nil {
			t.Errorf("top menu %v", dir)
		}
		for _, c := range dir["children"].([]any) {
			btn := c.(map[string]any)
			if btn["type"] != "button" || btn["parent_id"].(float64) != dir["id"].(float64) || len(btn["children"].([]any)) != 0 {
				t.Errorf("button %v under %v", btn, dir["title"])
			}
			perm[btn["permission"].(string)] = jsonID(btn)
		}
	}
	if want := []string{"System", "Logs", "Monitor", "Credits", "Code generator"}; !slices.Equal(dirs, want) {
		t.Errorf("menu directories %v, want %v", dirs, want)
	}
	for _, c := range adminCalls {
		if perm[c.perm] == 0 {
			t.Errorf("no built-in menu carries %s", c.perm)
		}
	}

	// Roles: CRUD, unique name and code, paginated.
	auditor := s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin,
		body: map[string]any{"name": "Auditors", "code": "auditor", "description": "reads the logs"}}).m(t)
	if auditor["status"].(float64) != 1 || auditor["code"] != "auditor" {
		t.Errorf("role %v", auditor)
	}
	rid := jsonID(auditor)
	rolePath := fmt.Sprintf("/api/v1/admin/sys/roles/%d", rid)
	s.expect(t, 409, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Auditors", "code": "other"}})
	s.expect(t, 409, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Other", "code": "auditor"}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Bad", "code": "has space"}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Bad", "code": "bad", "status": 2}})
	spare := jsonID(s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Spare", "code": "spare", "status": 0}}).m(t))
	list := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/roles?page=2&size=1", token: admin}).m(t)
	if list["total"].(float64) != 2 || jsonID(list["items"].([]any)[0].(map[string]any)) != spare {
		t.Errorf("role page 2: %v", list)
	}
	if got := s.expect(t, 200, req{method: "GET", path: rolePath, token: admin}).m(t); got["description"] != "reads the logs" {
		t.Errorf("role %v", got)
	}
	s.expect(t, 204, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/roles/%d", spare), token: admin})
	s.expect(t, 404, req{method: "GET", path: fmt.Sprintf("/api/v1/admin/sys/roles/%d", spare), token: admin})

	// Role menus round trip.
	grant := []int64{perm["log:opera:list"], perm["log:login:list"]}
	rm := s.expect(t, 200, req{method: "PUT", path: rolePath + "/menus", token: admin, body: map[string]any{"menu_ids": grant}}).m(t)
	got := s.expect(t, 200, req{method: "GET", path: rolePath + "/menus", token: admin}).m(t)
	slices.Sort(grant)
	if fmt.Sprint(got["menu_ids"]) != fmt.Sprint(rm["menu_ids"]) || fmt.Sprint(got["menu_ids"]) != fmt.Sprint(toAny(grant)) {
		t.Errorf("role menus: put %v, get %v, want %v", rm, got, grant)
	}
	s.expect(t, 400, req{method: "PUT", path: rolePath + "/menus", token: admin, body: map[string]any{"menu_ids": []int64{99999}}})
	s.expect(t, 404, req{method: "GET", path: "/api/v1/admin/sys/roles/99999/menus", token: admin})

	// The auditor role opens the log listings, and nothing else.
	userPath := fmt.Sprintf("/api/v1/admin/sys/users/%d", uid)
	s.expect(t, 400, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"role_ids": []int64{99999}}})
	u := s.expect(t, 200, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"role_ids": []int64{rid}}}).m(t)
	if fmt.Sprint(u["role_ids"]) != fmt.Sprint([]any{float64(rid)}) || fmt.Sprint(u["roles"]) != "[Auditors]" || u["role"] != "user" {
		t.Errorf("user with role: %v", u)
	}
	s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/login-logs", token: user})
	s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/opera-logs", token: user})
	for _, c := range adminCalls {
		if c.perm == "log:login:list" || c.perm == "log:opera:list" {
			continue
		}
		s.expect(t, 403, req{method: c.method, path: c.path, token: user, body: c.body})
	}
	// Disabling the role takes the access away at once; enabling gives it back.
	s.expect(t, 200, req{method: "PUT", path: rolePath, token: admin, body: map[string]any{"status": 0}})
	s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/log/login-logs", token: user})
	s.expect(t, 200, req{method: "PUT", path: rolePath, token: admin, body: map[string]any{"status": 1}})
	s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/opera-logs", token: user})
	// So does disabling the menu.
	s.expect(t, 200, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/menus/%d", perm["log:opera:list"]), token: admin, body: map[string]any{"status": 0}})
	s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/log/opera-logs", token: user})
	s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/login-logs", token: user})

	// A user manager may edit users, but not make admins or touch them.
	managers := jsonID(s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/roles", token: admin, body: map[string]any{"name": "Managers", "code": "manager"}}).m(t))
	s.expect(t, 200, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/roles/%d/menus", managers), token: admin,
		body: map[string]any{"menu_ids": []int64{perm["sys:user:list"], perm["sys:user:edit"], perm["sys:user:add"]}}})
	s.expect(t, 200, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"role_ids": []int64{rid, managers}}})
	s.expect(t, 200, req{method: "PUT", path: userPath, token: user, body: map[string]any{"nickname": "Ursula"}})
	s.expect(t, 403, req{method: "PUT", path: userPath, token: user, body: map[string]any{"role": "admin"}})
	s.expect(t, 403, req{method: "PUT", path: "/api/v1/admin/sys/users/1", token: user, body: map[string]any{"nickname": "pwned"}})
	s.expect(t, 403, req{method: "POST", path: "/api/v1/admin/sys/users", token: user, body: map[string]any{"username": "evil", "password": "12345678", "role": "admin"}})
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: user, body: map[string]any{"username": "helper", "password": "12345678", "role_ids": []int64{rid}}})
	s.expect(t, 403, req{method: "DELETE", path: userPath, token: user})

	// Admins keep every permission.
	for _, c := range adminCalls {
		if c.method == "GET" && c.perm != "monitor:redis" {
			s.expect(t, 200, req{method: c.method, path: c.path, token: admin})
		}
	}
	s.expect(t, 201, req{method: "POST", path: "/api/v1/agent/credits/add", token: admin, body: map[string]any{"user_id": uid, "amount": 5}})

	// Departments: a tree; cycles refused; no delete with children or users.
	dept := func(body map[string]any) int64 {
		t.Helper()
		return jsonID(s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/depts", token: admin, body: body}).m(t))
	}
	hq := dept(map[string]any{"name": "HQ"})
	eng := dept(map[string]any{"name": "Engineering", "parent_id": hq, "leader": "Eve"})
	infra := dept(map[string]any{"name": "Infrastructure", "parent_id": eng})
	sales := dept(map[string]any{"name": "Sales", "parent_id": hq, "sort": -1})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/depts", token: admin, body: map[string]any{"name": "Orphan", "parent_id": 99999}})
	r := s.expect(t, 400, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", hq), token: admin, body: map[string]any{"parent_id": infra}})
	if msg := r.message(t); !strings.Contains(msg, "cycle") {
		t.Errorf("cycle refused with %q", msg)
	}
	s.expect(t, 400, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", eng), token: admin, body: map[string]any{"parent_id": eng}})
	r = s.expect(t, 409, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", hq), token: admin})
	if msg := r.message(t); !strings.Contains(msg, "children") {
		t.Errorf("delete with children refused with %q", msg)
	}
	tree := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/depts", token: admin}).m(t)["items"].([]any)
	if len(tree) != 1 {
		t.Fatalf("department roots %v", tree)
	}
	root := tree[0].(map[string]any)
	kids := root["children"].([]any)
	if root["name"] != "HQ" || len(kids) != 2 || kids[0].(map[string]any)["name"] != "Sales" ||
		kids[1].(map[string]any)["children"].([]any)[0].(map[string]any)["name"] != "Infrastructure" {
		t.Errorf("department tree %v", tree)
	}
	// Moving a subtree is fine.
	moved := s.expect(t, 200, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", infra), token: admin, body: map[string]any{"parent_id": sales}}).m(t)
	if moved["parent_id"].(float64) != float64(sales) {
		t.Errorf("moved %v", moved)
	}
	// Users belong to a department.
	u = s.expect(t, 200, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"dept_id": eng}}).m(t)
	if u["dept_id"].(float64) != float64(eng) {
		t.Errorf("user dept %v", u)
	}
	s.expect(t, 400, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"dept_id": 99999}})
	r = s.expect(t, 409, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", eng), token: admin})
	if msg := r.message(t); !strings.Contains(msg, "users") {
		t.Errorf("delete with users refused with %q", msg)
	}
	s.expect(t, 200, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"dept_id": 0}})
	s.expect(t, 204, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", eng), token: admin})
	s.expect(t, 404, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/depts/%d", eng), token: admin})
	withDept := s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]any{"username": "dora", "password": "password-dora", "dept_id": sales, "role_ids": []int64{rid}}}).m(t)
	if withDept["dept_id"].(float64) != float64(sales) || fmt.Sprint(withDept["roles"]) != "[Auditors]" {
		t.Errorf("user created with dept and role: %v", withDept)
	}

	// Menus: create nested, refuse cycles and deleting a parent.
	menu := func(body map[string]any) int64 {
		t.Helper()
		return jsonID(s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/menus", token: admin, body: body}).m(t))
	}
	reports := menu(map[string]any{"title": "Reports", "type": "directory", "path": "/reports"})
	usage := menu(map[string]any{"title": "Usage", "parent_id": reports, "path": "/reports/usage"})
	export := menu(map[string]any{"title": "Export", "parent_id": usage, "type": "button", "permission": "report:export"})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/menus", token: admin, body: map[string]any{"title": "Bad", "type": "link"}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/menus", token: admin, body: map[string]any{"title": "Bad", "permission": "has space"}})
	s.expect(t, 400, req{method: "PUT", path: fmt.Sprintf("/api/v1/admin/sys/menus/%d", reports), token: admin, body: map[string]any{"parent_id": export}})

	// Secondary fields have limits like their siblings, and addresses a syntax.
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		method, path string
		body         map[string]any
		msg          string
	}{
		{"POST", "/api/v1/admin/sys/depts", map[string]any{"name": "D", "leader": long}, `field "leader" must be at most 64 characters`},
		{"POST", "/api/v1/admin/sys/depts", map[string]any{"name": "D", "phone": "call me"}, `field "phone" must be a phone number`},
		{"POST", "/api/v1/admin/sys/depts", map[string]any{"name": "D", "email": "notanemail"}, `field "email" must be an email address`},
		{"PUT", fmt.Sprintf("/api/v1/admin/sys/depts/%d", hq), map[string]any{"email": "Boss <boss@example.com>"}, `field "email" must be an email address`},
		{"POST", "/api/v1/admin/sys/menus", map[string]any{"title": "M", "path": long}, `field "path" must be at most 256 characters`},
		{"POST", "/api/v1/admin/sys/menus", map[string]any{"title": "M", "path": "/a b"}, `field "path" must not contain spaces`},
		{"PUT", fmt.Sprintf("/api/v1/admin/sys/menus/%d", reports), map[string]any{"icon": long}, `field "icon" must be at most 128 characters`},
		{"POST", "/api/v1/admin/sys/users", map[string]any{"username": "eve", "password": "password-eve", "email": "notanemail"}, `field "email" must be an email address`},
		{"POST", "/api/v1/admin/sys/users", map[string]any{"username": "eve", "password": "password-eve", "nickname": long}, `field "nickname" must be at most 64 characters`},
		{"PUT", userPath, map[string]any{"nickname": "a\nb"}, `field "nickname" must not contain control characters`},
		{"PUT", userPath, map[string]any{"email": "a@b@c"}, `field "email" must be an email address`},
	} {
		r := s.expect(t, 400, req{method: tc.method, path: tc.path, token: admin, body: tc.body})
		if !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("%s %s %v: %s, want %q", tc.method, tc.path, tc.body, r.body, tc.msg)
		}
	}
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/depts", token: admin, body: map[string]any{"name": "Support", "leader": "Sam", "phone": "+1 (555) 010-0100", "email": "support@example.com"}})
	s.expect(t, 200, req{method: "PUT", path: userPath, token: admin, body: map[string]any{"email": " ursula@example.com "}})
	s.expect(t, 409, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/menus/%d", reports), token: admin})
	menus = s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/menus", token: admin}).m(t)["items"].([]any)
	first := menus[0].(map[string]any) // sort 0 comes before the built-in directories
	if first["title"] != "Reports" || first["children"].([]any)[0].(map[string]any)["children"].([]any)[0].(map[string]any)["permission"] != "report:export" {
		t.Errorf("menu tree %v", first)
	}
	for _, m := range []int64{export, usage, reports} {
		s.expect(t, 204, req{method: "DELETE", path: fmt.Sprintf("/api/v1/admin/sys/menus/%d", m), token: admin})
	}

	// The last admin still cannot be deleted or demoted.
	r = s.expect(t, 409, req{method: "DELETE", path: "/api/v1/admin/sys/users/1", token: admin})
	if !strings.Contains(r.message(t), "last admin") {
		t.Errorf("delete last admin: %s", r.body)
	}
	s.expect(t, 409, req{method: "PUT", path: "/api/v1/admin/sys/users/1", token: admin, body: map[string]string{"role": "user"}})
	// Deleting a role takes it from its users.
	s.expect(t, 204, req{method: "DELETE", path: rolePath, token: admin})
	s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/log/login-logs", token: user})
	if u := s.expect(t, 200, req{method: "GET", path: userPath, token: admin}).m(t); fmt.Sprint(u["roles"]) != "[Managers]" {
		t.Errorf("roles after delete: %v", u)
	}
}

// jsonID returns the numeric "id" of a decoded object.
func jsonID(m map[string]any) int64 { return int64(m["id"].(float64)) }

func toAny(ids []int64) []any {
	out := make([]any, len(ids))
	for i, v := range ids {
		out[i] = float64(v)
	}
	return out
}
