package paddock

import (
	"context"
	"time"
)

// Permission is an API key's level of access to one environment.
// The levels are ordered: read < write < admin.
type Permission string

const (
	PermissionRead  Permission = "read"  // get, list, logs
	PermissionWrite Permission = "write" // exec, attach, files, ports
	PermissionAdmin Permission = "admin" // delete
)

func (p Permission) rank() int {
	switch p {
	case PermissionRead:
		return 1
	case PermissionWrite:
		return 2
	case PermissionAdmin:
		return 3
	}
	return 0
}

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool { return p.rank() > 0 }

// Allows reports whether holding p grants need.
func (p Permission) Allows(need Permission) bool { return p.rank() >= need.rank() && need.rank() > 0 }

// EnvironmentPermission grants an API key a permission on one environment.
type EnvironmentPermission struct {
	EnvironmentID string     `json:"environment_id"`
	Permission    Permission `json:"permission"`
}

// APIKeyPrefix starts every API key secret.
const APIKeyPrefix = "pdk_"

// APIKey is a long-lived credential. Only the hash of its secret is stored.
// A key without Permissions acts with its user's full rights; a key with
// Permissions can reach only the environments listed, at the level listed.
type APIKey struct {
	ID          string
	UserID      int64
	Description string
	Hash        string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	Permissions []EnvironmentPermission
}

// Restricted reports whether the key is limited to listed environments.
func (k *APIKey) Restricted() bool { return k != nil && len(k.Permissions) > 0 }

// EnvironmentPermission returns the key's permission on an environment:
// admin for an unrestricted key, the listed level, or "" when not listed.
func (k *APIKey) EnvironmentPermission(envID string) Permission {
	if !k.Restricted() {
		return PermissionAdmin
	}
	for _, p := range k.Permissions {
		if p.EnvironmentID == envID {
			return p.Permission
		}
	}
	return ""
}

// APIKeyService stores API keys. Unknown or other users' keys are ENotFound.
type APIKeyService interface {
	APIKeys(ctx context.Context, userID int64) ([]*APIKey, error)
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	CreateAPIKey(ctx context.Context, k *APIKey) error
	DeleteAPIKey(ctx context.Context, userID int64, id string) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}
