package store_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

func TestProviderKeyStore(t *testing.T) {
	runSuite(t, []suiteCase{{"ProviderKeys", testProviderKeys}})
}

// testProviderKeys: set, replace (the creation time stays), list and get
// only one's own, delete, unknown ones, keys sealed at rest and refused
// under another signing key, and removed with their user.
func testProviderKeys(t *testing.T, f *fixture) {
	ctx := context.Background()
	users := store.NewUserService(f.db)
	ann, bob := &paddock.User{Username: "ann", PasswordHash: "x"}, &paddock.User{Username: "bob", PasswordHash: "x"}
	for _, u := range []*paddock.User{ann, bob} {
		if err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := store.NewProviderKeyService(f.db, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	first := &paddock.ProviderKey{UserID: ann.ID, Provider: "openai", Key: "sk-ann-first-0001"}
	if err := keys.SetProviderKey(ctx, first); err != nil || first.CreatedAt.IsZero() || !first.UpdatedAt.Equal(first.CreatedAt) {
		t.Fatalf("set: %+v, %v", first, err)
	}
	time.Sleep(2 * time.Millisecond)
	second := &paddock.ProviderKey{UserID: ann.ID, Provider: "openai", Key: "sk-ann-second-0002"}
	if err := keys.SetProviderKey(ctx, second); err != nil || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) {
		t.Fatalf("replace: %+v (first %+v), %v", second, first, err)
	}
	for _, k := range []*paddock.ProviderKey{{UserID: ann.ID, Provider: "anthropic", Key: "sk-ant-ann"}, {UserID: bob.ID, Provider: "openai", Key: "sk-bob"}} {
		if err := keys.SetProviderKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, keys.SetProviderKey(ctx, &paddock.ProviderKey{UserID: 99999, Provider: "openai", Key: "k"}), paddock.ENotFound)
	wantCode(t, keys.SetProviderKey(ctx, &paddock.ProviderKey{UserID: ann.ID, Provider: "openai"}), paddock.EInvalid)

	got, err := keys.ProviderKey(ctx, ann.ID, "openai")
	if err != nil || got.Key != "sk-ann-second-0002" || !got.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("get: %+v, %v", got, err)
	}
	list, err := keys.ProviderKeys(ctx, ann.ID)
	if err != nil || len(list) != 2 || list[0].Provider != "anthropic" || list[1].Provider != "openai" || list[1].Key != "sk-ann-second-0002" {
		t.Fatalf("ann's keys: %+v, %v", list, err)
	}
	_, err = keys.ProviderKey(ctx, bob.ID, "anthropic")
	wantCode(t, err, paddock.ENotFound)

	var column string
	if err := rawDB(t, f.dialect, f.dsn).QueryRowContext(ctx, "SELECT api_key FROM provider_keys WHERE provider = 'openai' AND user_id = "+strconv.FormatInt(ann.ID, 10)).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(column, "sk-ann") || !strings.HasPrefix(column, "sealed:v1:") {
		t.Errorf("key stored as %q", column)
	}
	other, _ := store.NewProviderKeyService(f.db, bytes.Repeat([]byte{8}, 32))
	if _, err := other.ProviderKey(ctx, ann.ID, "openai"); paddock.ErrorCode(err) != paddock.EUnavailable || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("read with another key: %v", err)
	}

	if err := keys.DeleteProviderKey(ctx, ann.ID, "openai"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, keys.DeleteProviderKey(ctx, ann.ID, "openai"), paddock.ENotFound)
	if k, err := keys.ProviderKey(ctx, bob.ID, "openai"); err != nil || k.Key != "sk-bob" {
		t.Errorf("ann's delete touched bob's key: %+v, %v", k, err)
	}
	if err := users.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := keys.ProviderKeys(ctx, bob.ID); err != nil || len(list) != 0 {
		t.Errorf("a deleted user's keys: %+v, %v", list, err)
	}
}
