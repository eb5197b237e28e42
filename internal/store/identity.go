package store

import (
	"context"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.IdentityService = (*IdentityService)(nil)

// IdentityService links users to OAuth2 accounts. It implements
// paddock.IdentityService.
type IdentityService struct {
	db *DB
}

// NewIdentityService returns an IdentityService backed by db.
func NewIdentityService(db *DB) *IdentityService { return &IdentityService{db: db} }

// IdentityUser returns the id of the user linked to the account.
func (s *IdentityService) IdentityUser(ctx context.Context, provider, subject string) (int64, error) {
	var id int64
	err := s.db.reader().queryRow(ctx, "SELECT user_id FROM user_identities WHERE provider = ? AND subject = ?", provider, subject).Scan(&id)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("no user is linked to %s account %s", provider, subject), "identity")
	}
	return id, nil
}

// LinkIdentity links the account to the user.
func (s *IdentityService) LinkIdentity(ctx context.Context, provider, subject string, userID int64) error {
	_, err := s.db.exec(ctx, "INSERT INTO user_identities (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)",
		provider, subject, userID, s.db.timeArg(normTime(s.db.now())))
	switch v, _ := constraintOf(err); {
	case v == uniqueViolation:
		return paddock.Errorf(paddock.EConflict, "%s account %s is linked to a user already", provider, subject)
	case v == foreignKeyViolation:
		return paddock.Errorf(paddock.ENotFound, "user %d not found", userID)
	case err != nil:
		return fmt.Errorf("link identity: %w", err)
	}
	return nil
}
