package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// BenchmarkAPIKeyByHash measures the lookup behind every API-key request,
// on SQLite, among 1000 keys with permissions.
func BenchmarkAPIKeyByHash(b *testing.B) {
	ctx := context.Background()
	db := openDB(b, sqliteDSN(b))
	u := mustCreateUser(b, db, "alice")
	keys := store.NewAPIKeyService(db)
	for i := range 1000 {
		k := &paddock.APIKey{UserID: u.ID, Hash: fmt.Sprintf("hash-%04d", i), Permissions: []paddock.EnvironmentPermission{
			{EnvironmentID: "env-a", Permission: paddock.PermissionRead},
			{EnvironmentID: "env-b", Permission: paddock.PermissionWrite},
		}}
		if err := keys.CreateAPIKey(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := keys.APIKeyByHash(ctx, "hash-0500")
		if err != nil {
			b.Fatal(err)
		}
		if len(k.Permissions) != 2 {
			b.Fatalf("%d permissions, want 2", len(k.Permissions))
		}
	}
}
