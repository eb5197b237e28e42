package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

// adminUser is a user on the platform surface (seed 003): numeric ids.
type adminUser struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Nickname  string    `json:"nickname"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`     // admin (every permission) or user
	RoleIDs   []int64   `json:"role_ids"` // the roles granting permissions (/api/v1/admin/sys/roles)
	Roles     []string  `json:"roles"`    // their names
	DeptID    *int64    `json:"dept_id"`  // null when in no department
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toAdminUser(u *paddock.User, roles []*paddock.SysRole) adminUser {
	au := adminUser{ID: u.ID, Username: u.Username, Nickname: u.Nickname, Email: u.Email, Role: string(u.Role),
		RoleIDs: make([]int64, len(roles)), Roles: make([]string, len(roles)), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	for i, r := range roles {
		au.RoleIDs[i], au.Roles[i] = r.ID, r.Name
	}
	if u.DeptID != 0 {
		d := u.DeptID
		au.DeptID = &d
	}
	return au
}

type userListParams struct {
	Page     int    `query:"page" minimum:"1" default:"1"`
	Size     int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	Username string `query:"username"`
	Role     string `query:"role" enum:"admin,user"`
}

type userListResponse struct {
	Items []adminUser `json:"items"`
	Total int         `json:"total"`
	Page  int         `json:"page"`
	Size  int         `json:"size"`
}

type userCreateRequest struct {
	Username string  `json:"username" required:"true" pattern:"^[A-Za-z0-9_.-]{2,64}$"`
	Password string  `json:"password" required:"true" minLength:"8"`
	Email    string  `json:"email,omitempty" format:"email"`
	Nickname string  `json:"nickname,omitempty" maxLength:"64"`
	Role     string  `json:"role,omitempty" enum:"admin,user"`
	RoleIDs  []int64 `json:"role_ids,omitempty"`
	DeptID   *int64  `json:"dept_id,omitempty"`
}

type userUpdateRequest struct {
	Email    *string `json:"email,omitempty" format:"email"`
	Nickname *string `json:"nickname,omitempty" maxLength:"64"`
	Role     *string `json:"role,omitempty" enum:"admin,user"`
	Password *string `json:"password,omitempty" minLength:"8"`
	RoleIDs  []int64 `json:"role_ids,omitempty"` // replaces the user's roles; [] removes them all
	DeptID   *int64  `json:"dept_id,omitempty"`  // 0 removes the user from its department
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{2,64}$`)

// validUserContact checks a user's nickname (at most 64 characters) and
// email address, where given.
func validUserContact(nickname, email *string) error {
	if nickname != nil {
		if err := validText("nickname", *nickname, 64); err != nil {
			return err
		}
	}
	if email != nil {
		return validEmail("email", *email)
	}
	return nil
}

// queryInt parses an optional integer query parameter within [min, max].
func queryInt(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, paddock.Errorf(paddock.EInvalid, "query parameter %q must be an integer between %d and %d, not %q", name, min, max, v)
	}
	return n, nil
}

// pathID parses the numeric {id} path parameter; a malformed id cannot name
// anything, so it is not found.
func pathID(r *http.Request, what string) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, paddock.Errorf(paddock.ENotFound, "%s %q not found", what, v)
	}
	return id, nil
}

func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request) error {
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	f := paddock.UserFilter{Offset: (page - 1) * size, Limit: size}
	if v := r.URL.Query().Get("username"); v != "" {
		f.Username = &v
	}
	if v := r.URL.Query().Get("role"); v != "" {
		role := paddock.Role(v)
		if !role.Valid() {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"role\" must be admin or user")
		}
		f.Role = &role
	}
	users, total, err := s.Users.Users(r.Context(), f)
	if err != nil {
		return err
	}
	items, err := s.adminUsers(r.Context(), users...)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userListResponse{Items: items, Total: total, Page: page, Size: size})
}

func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	u, err := s.Users.User(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

// writeAdminUser answers with a user and its roles.
func (s *Server) writeAdminUser(w http.ResponseWriter, r *http.Request, code int, u *paddock.User) error {
	out, err := s.adminUsers(r.Context(), u)
	if err != nil {
		return err
	}
	return writeJSON(w, code, out[0])
}

// onlyAdmins refuses callers without the admin role: only admins make or
// change admins, so that holding sys:user:* is not holding everything.
func onlyAdmins(r *http.Request, what string) error {
	if !principal(r).User.IsAdmin() {
		return paddock.Errorf(paddock.EForbidden, "only admins may %s", what)
	}
	return nil
}

func validDeptID(v *int64) error {
	if v != nil && *v < 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"dept_id\" must not be negative")
	}
	return nil
}

func validRole(v string) (paddock.Role, error) {
	role := paddock.Role(v)
	if !role.Valid() {
		return "", paddock.Errorf(paddock.EInvalid, "field \"role\" must be admin or user, not %q", v)
	}
	return role, nil
}

func validPassword(p string) error {
	if len(p) < 8 {
		return paddock.Errorf(paddock.EInvalid, "field \"password\" must have at least 8 characters")
	}
	if len(p) > 1024 {
		return paddock.Errorf(paddock.EInvalid, "field \"password\" must have at most 1024 characters")
	}
	return nil
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	var req userCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !usernameRE.MatchString(req.Username) {
		return paddock.Errorf(paddock.EInvalid, "field \"username\" must be 2 to 64 letters, digits, '_', '.' or '-'")
	}
	if err := validPassword(req.Password); err != nil {
		return err
	}
	req.Email = strings.TrimSpace(req.Email)
	if err := validUserContact(&req.Nickname, &req.Email); err != nil {
		return err
	}
	role := paddock.RoleUser
	if req.Role != "" {
		var err error
		if role, err = validRole(req.Role); err != nil {
			return err
		}
	}
	if role == paddock.RoleAdmin {
		if err := onlyAdmins(r, "create admins"); err != nil {
			return err
		}
	}
	if err := validDeptID(req.DeptID); err != nil {
		return err
	}
	if err := s.checkRoleIDs(r.Context(), req.RoleIDs); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	u := &paddock.User{Username: req.Username, Email: req.Email, Nickname: req.Nickname, Role: role, PasswordHash: hash}
	if req.DeptID != nil {
		u.DeptID = *req.DeptID
	}
	if err := s.Users.CreateUser(r.Context(), u); err != nil {
		return err
	}
	if len(req.RoleIDs) > 0 {
		if err := s.RBAC.SetUserRoles(r.Context(), u.ID, req.RoleIDs); err != nil {
			// A role deleted since it was checked: do not leave a user
			// without the roles it was asked with.
			if derr := s.Users.DeleteUser(context.WithoutCancel(r.Context()), u.ID); derr != nil {
				s.log.ErrorContext(r.Context(), "delete user after failing to set its roles", "user_id", u.ID, "err", derr)
			}
			return err
		}
	}
	return s.writeAdminUser(w, r, http.StatusCreated, u)
}

func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	var req userUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validDeptID(req.DeptID); err != nil {
		return err
	}
	if req.Email != nil {
		e := strings.TrimSpace(*req.Email)
		req.Email = &e
	}
	if err := validUserContact(req.Nickname, req.Email); err != nil {
		return err
	}
	upd := paddock.UserUpdate{Email: req.Email, Nickname: req.Nickname, DeptID: req.DeptID}
	if err := s.adminTarget(r, id, req.Role != nil, "change an admin"); err != nil {
		return err
	}
	if req.RoleIDs != nil {
		if err := s.checkRoleIDs(r.Context(), req.RoleIDs); err != nil {
			return err
		}
	}
	if req.Role != nil {
		role, err := validRole(*req.Role)
		if err != nil {
			return err
		}
		if role != paddock.RoleAdmin {
			if err := s.keepOneAdmin(r, id); err != nil {
				return err
			}
		}
		upd.Role = &role
	}
	if req.Password != nil {
		if err := validPassword(*req.Password); err != nil {
			return err
		}
		hash, err := auth.HashPassword(*req.Password)
		if err != nil {
			return err
		}
		upd.PasswordHash = &hash
	}
	u, err := s.Users.UpdateUser(r.Context(), id, upd)
	if err != nil {
		return err
	}
	if req.RoleIDs != nil {
		rb, err := s.rbac()
		if err != nil {
			return err
		}
		if err := rb.SetUserRoles(r.Context(), id, req.RoleIDs); err != nil {
			return err
		}
	}
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

// adminTarget refuses a caller without the admin role who sets a user's
// "role" field (setsRole) or acts (what) on an admin.
func (s *Server) adminTarget(r *http.Request, id int64, setsRole bool, what string) error {
	if principal(r).User.IsAdmin() {
		return nil
	}
	if setsRole {
		return onlyAdmins(r, `set the field "role"`)
	}
	u, err := s.Users.User(r.Context(), id)
	if err != nil {
		return err
	}
	if u.IsAdmin() {
		return onlyAdmins(r, what)
	}
	return nil
}

// keepOneAdmin refuses to remove the admin role from the last admin.
func (s *Server) keepOneAdmin(r *http.Request, id int64) error {
	u, err := s.Users.User(r.Context(), id)
	if err != nil || u.Role != paddock.RoleAdmin {
		return err
	}
	admin := paddock.RoleAdmin
	_, n, err := s.Users.Users(r.Context(), paddock.UserFilter{Role: &admin, Limit: 1})
	if err != nil {
		return err
	}
	if n <= 1 {
		return paddock.Errorf(paddock.EConflict, "user %q is the last admin; make another user admin first", u.Username)
	}
	return nil
}

func (s *Server) handleUserDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	if err := s.adminTarget(r, id, false, "delete an admin"); err != nil {
		return err
	}
	if err := s.keepOneAdmin(r, id); err != nil {
		return err
	}
	if err := s.Users.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
