package paddock

import "context"

// IdentityService links users to their accounts at OAuth2 providers
// (GitHub, Google), so that signing in there signs them in here.
type IdentityService interface {
	// IdentityUser returns the id of the user linked to the provider's
	// account subject, or ENotFound.
	IdentityUser(ctx context.Context, provider, subject string) (int64, error)
	// LinkIdentity links the account to the user; an account already
	// linked is EConflict, an unknown user ENotFound.
	LinkIdentity(ctx context.Context, provider, subject string, userID int64) error
}
