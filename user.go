package paddock

import (
	"context"
	"time"
)

// Role is a user's role.
type Role string

const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// User is someone who calls Paddock.
type User struct {
	ID           int64
	Username     string
	Email        string
	Nickname     string
	Role         Role
	DeptID       int64 // 0 when the user belongs to no department
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

// UserFilter selects users. Zero fields do not filter.
type UserFilter struct {
	ID       *int64
	Username *string
	Email    *string // compared whatever its case
	Role     *Role
	Offset   int
	Limit    int // 0 means no limit
}

// UserUpdate holds the fields to change; nil fields are left alone.
type UserUpdate struct {
	Email        *string
	Nickname     *string
	Role         *Role
	DeptID       *int64 // 0 removes the user from its department
	PasswordHash *string
}

// UserService stores users. Usernames are compared whatever their case:
// "BOB" finds "bob", and creating "BOB" while "bob" exists returns
// EConflict. Lookups of unknown users return ENotFound.
type UserService interface {
	User(ctx context.Context, id int64) (*User, error)
	UserByUsername(ctx context.Context, username string) (*User, error)
	Users(ctx context.Context, filter UserFilter) ([]*User, int, error)
	CreateUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, id int64, upd UserUpdate) (*User, error)
	DeleteUser(ctx context.Context, id int64) error
}
