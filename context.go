package paddock

import "context"

// Principal is the authenticated caller of a request.
type Principal struct {
	User    *User
	APIKey  *APIKey // nil when authenticated by token
	TokenID string  // the JWT id when authenticated by token
}

// EnvironmentPermission returns what the principal may do to an environment
// owned by ownerID: admin users may do everything anywhere, owners everything
// their API key allows, everyone else nothing ("").
func (p *Principal) EnvironmentPermission(envID string, ownerID int64) Permission {
	if p == nil || p.User == nil {
		return ""
	}
	if p.User.ID != ownerID && !p.User.IsAdmin() {
		return ""
	}
	if p.APIKey != nil {
		return p.APIKey.EnvironmentPermission(envID)
	}
	return PermissionAdmin
}

type principalKey struct{}

// NewContextWithPrincipal returns a context carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal of ctx, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
