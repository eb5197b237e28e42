package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/paddockhq/paddock"
)

var _ paddock.UserService = (*UserService)(nil)

// UserService stores users. It implements paddock.UserService.
type UserService struct {
	db *DB
}

// NewUserService returns a UserService backed by db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

const userColumns = "id, username, email, nickname, role, dept_id, password_hash, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }) (*paddock.User, error) {
	var u paddock.User
	var dept sql.NullInt64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Nickname, &u.Role, &dept, &u.PasswordHash,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return nil, err
	}
	u.DeptID = dept.Int64
	return &u, nil
}

// deptArg returns a department id as a query argument: 0 is NULL.
func deptArg(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// userWriteError translates the errors of writing a user: a taken
// username is EConflict, an unknown department EInvalid.
func userWriteError(err error, username string, deptID int64, what string) error {
	switch v, _ := constraintOf(err); v {
	case uniqueViolation:
		return paddock.Errorf(paddock.EConflict, "username %q is taken (usernames are the same whatever their case)", username)
	case foreignKeyViolation:
		return paddock.Errorf(paddock.EInvalid, "department %d does not exist", deptID)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// User returns the user with the given id, or ENotFound.
func (s *UserService) User(ctx context.Context, id int64) (*paddock.User, error) {
	u, err := scanUser(s.db.reader().queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("user %d not found", id), fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// UserByUsername returns the user with the given username, whatever its
// case (usernames are unique that way: migration 0012), or ENotFound.
func (s *UserService) UserByUsername(ctx context.Context, username string) (*paddock.User, error) {
	u, err := scanUser(s.db.reader().queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE lower(username) = lower(?)", username))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("user %q not found", username), fmt.Sprintf("user %q", username))
	}
	return u, nil
}

// Users returns the page of users selected by filter, ordered by id, and the
// number of users the filter selects in all. A negative offset or limit is
// EInvalid.
func (s *UserService) Users(ctx context.Context, filter paddock.UserFilter) ([]*paddock.User, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if filter.ID != nil {
		where, args = append(where, "id = ?"), append(args, *filter.ID)
	}
	if filter.Username != nil {
		where, args = append(where, "lower(username) = lower(?)"), append(args, *filter.Username)
	}
	if filter.Email != nil {
		where, args = append(where, "lower(email) = lower(?)"), append(args, *filter.Email)
	}
	if filter.Role != nil {
		where, args = append(where, "role = ?"), append(args, string(*filter.Role))
	}
	users, total, err := listPage(ctx, s.db, "users", userColumns, where, args, "id", filter.Offset, filter.Limit, scanUser)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, total, nil
}

// CreateUser stores u and sets its ID. A zero CreatedAt is set to now and a
// zero UpdatedAt to CreatedAt; an empty Role is RoleUser. The username must
// be non-empty and unused, whatever its case (else EInvalid, EConflict);
// the role must be valid and the department, when not 0, must exist (else
// EInvalid).
func (s *UserService) CreateUser(ctx context.Context, u *paddock.User) error {
	if u == nil {
		return paddock.Errorf(paddock.EInvalid, "user is required")
	}
	if strings.TrimSpace(u.Username) == "" {
		return paddock.Errorf(paddock.EInvalid, "username is required")
	}
	if u.Role == "" {
		u.Role = paddock.RoleUser
	}
	if !u.Role.Valid() {
		return paddock.Errorf(paddock.EInvalid, "invalid role %q: want %q or %q", u.Role, paddock.RoleAdmin, paddock.RoleUser)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.db.now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = normTime(u.CreatedAt), normTime(u.UpdatedAt)

	err := s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, `INSERT INTO users
			(username, email, nickname, role, dept_id, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, u.Email, u.Nickname, string(u.Role), deptArg(u.DeptID), u.PasswordHash,
			s.db.timeArg(u.CreatedAt), s.db.timeArg(u.UpdatedAt)).Scan(&u.ID)
	})
	if err != nil {
		return userWriteError(err, u.Username, u.DeptID, fmt.Sprintf("create user %q", u.Username))
	}
	return nil
}

// UpdateUser applies the non-nil fields of upd, sets UpdatedAt to now and
// returns the updated user. Unknown ids are ENotFound; an invalid role or
// an unknown department is EInvalid. An empty update changes nothing and returns the user.
func (s *UserService) UpdateUser(ctx context.Context, id int64, upd paddock.UserUpdate) (*paddock.User, error) {
	var set []string
	var args []any
	if upd.Email != nil {
		set, args = append(set, "email = ?"), append(args, *upd.Email)
	}
	if upd.Nickname != nil {
		set, args = append(set, "nickname = ?"), append(args, *upd.Nickname)
	}
	if upd.Role != nil {
		if !upd.Role.Valid() {
			return nil, paddock.Errorf(paddock.EInvalid, "invalid role %q: want %q or %q", *upd.Role, paddock.RoleAdmin, paddock.RoleUser)
		}
		set, args = append(set, "role = ?"), append(args, string(*upd.Role))
	}
	if upd.DeptID != nil {
		set, args = append(set, "dept_id = ?"), append(args, deptArg(*upd.DeptID))
	}
	if upd.PasswordHash != nil {
		set, args = append(set, "password_hash = ?"), append(args, *upd.PasswordHash)
	}
	if len(set) == 0 {
		return s.User(ctx, id)
	}
	set, args = append(set, "updated_at = ?"), append(args, s.db.timeArg(s.db.now()))
	args = append(args, id)
	u, err := writeValue(ctx, s.db, func(c conn) (*paddock.User, error) {
		return scanUser(c.queryRow(ctx,
			"UPDATE users SET "+strings.Join(set, ", ")+" WHERE id = ? RETURNING "+userColumns, args...))
	})
	if err != nil {
		if v, _ := constraintOf(err); v == foreignKeyViolation && upd.DeptID != nil {
			return nil, paddock.Errorf(paddock.EInvalid, "department %d does not exist", *upd.DeptID)
		}
		return nil, notFound(err, fmt.Sprintf("user %d not found", id), fmt.Sprintf("update user %d", id))
	}
	return u, nil
}

// DeleteUser deletes the user with the given id, with its API keys and
// tokens. Unknown ids are ENotFound.
func (s *UserService) DeleteUser(ctx context.Context, id int64) error {
	res, err := s.db.exec(ctx, "DELETE FROM users WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("user %d not found", id))
}
