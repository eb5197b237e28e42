package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
	"github.com/paddockhq/paddock/internal/store/storetest"
)

// suiteCase is one test of a store suite, run on a fresh database.
type suiteCase struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// runSuite runs cases in parallel on each backend (see backends), each on a
// database of its own.
func runSuite(t *testing.T, cases []suiteCase) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.newDSN(t)
					tc.fn(t, &fixture{dialect: b.name, dsn: dsn, db: openDB(t, dsn)})
				})
			}
		})
	}
}

// TestStore runs the suite on SQLite, and on PostgreSQL when
// PADDOCK_TEST_POSTGRES_DSN names a server (each test gets its own database).
func TestStore(t *testing.T) {
	runSuite(t, []suiteCase{
		{"Migrations", testMigrations},
		{"Users", testUsers},
		{"UsernameCaseMigration", testUsernameCaseMigration},
		{"UserDeleteCascades", testUserDeleteCascades},
		{"Identities", testIdentities},
		{"Resources", testResources},
		{"APIKeys", testAPIKeys},
		{"Tokens", testTokens},
		{"Environment", testEnvironment},
		{"EnvironmentFilters", testEnvironmentFilters},
		{"TimesInUTC", testTimesInUTC},
		{"ConcurrentWrites", testConcurrentWrites},
	})
}

type backend struct {
	name   string
	newDSN func(t testing.TB) string // a DSN for a fresh, empty database
}

func backends(t *testing.T) []backend {
	bs := []backend{{name: store.DialectSQLite, newDSN: sqliteDSN}}
	if dsn := os.Getenv("PADDOCK_TEST_POSTGRES_DSN"); dsn != "" {
		bs = append(bs, backend{name: store.DialectPostgres, newDSN: func(t testing.TB) string { return storetest.PostgresDSN(t, dsn) }})
	} else {
		t.Log("PADDOCK_TEST_POSTGRES_DSN is not set: skipping PostgreSQL")
	}
	return bs
}

func sqliteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "data", "paddock.db")
}

func openDB(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

type fixture struct {
	dialect string
	dsn     string
	db      *store.DB
}

// rawDB opens dsn without the store, to look behind its back.
func rawDB(t *testing.T, dialect, dsn string) *sql.DB {
	t.Helper()
	driver := "sqlite"
	if dialect == store.DialectPostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wantCode fails t unless err carries the application error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := paddock.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// mustCreateUser creates a user named name with role user.
func mustCreateUser(t testing.TB, db *store.DB, name string) *paddock.User {
	t.Helper()
	u := &paddock.User{Username: name, Email: name + "@example.com", Role: paddock.RoleUser, PasswordHash: "hash-" + name}
	if err := store.NewUserService(db).CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func ptr[T any](v T) *T { return &v }

// at returns a distinct UTC time at microsecond precision, as stored.
func at(minute int) time.Time {
	return time.Date(2025, 6, 1, 12, minute, 0, 0, time.UTC)
}

func testMigrations(t *testing.T, f *fixture) {
	ctx := context.Background()
	if got := f.db.Dialect(); got != f.dialect {
		t.Errorf("Dialect() = %q, want %q", got, f.dialect)
	}
	if err := f.db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	u := mustCreateUser(t, f.db, "alice")

	// Reopening applies nothing and keeps the data.
	db2 := openDB(t, f.dsn)
	got, err := store.NewUserService(db2).User(ctx, u.ID)
	if err != nil {
		t.Fatalf("User after reopen: %v", err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("user after reopen (-want +got):\n%s", diff)
	}

	// Replicas opening a fresh database together apply each migration once.
	dsn := f.dsn
	if f.dialect == store.DialectSQLite {
		dsn = sqliteDSN(t)
	} else {
		dsn = storetest.PostgresDSN(t, os.Getenv("PADDOCK_TEST_POSTGRES_DSN"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := store.Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			errs <- db.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	files, err := os.ReadDir(filepath.Join("migrations", f.dialect))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, f.dialect, dsn)
	var rows, distinct int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(files) || distinct != len(files) {
		t.Errorf("schema_migrations has %d rows (%d versions), want %d", rows, distinct, len(files))
	}
	// A database migrated by a newer binary is refused, not mangled.
	if _, err := raw.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'now')"); err != nil {
		t.Fatal(err)
	}
	if db, err := store.Open(ctx, dsn); err == nil {
		db.Close()
		t.Error("Open of a database with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a database with a newer schema: %v", err)
	}
	if f.dialect == store.DialectSQLite {
		var mode string
		if err := raw.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", ":memory:", "file::memory:?cache=shared", "/tmp/a?b.db"} {
		db, err := store.Open(context.Background(), dsn)
		if err == nil {
			db.Close()
		}
		wantCode(t, err, paddock.EInvalid)
	}
}

// testUsernameCaseMigration checks migration 0012 on a database holding
// usernames that differ only in case (possible before it): the oldest
// account keeps its name, the others become name-ID, and the index then
// refuses such names.
func testUsernameCaseMigration(t *testing.T, f *fixture) {
	ctx := context.Background()
	bob := mustCreateUser(t, f.db, "bob")
	raw := rawDB(t, f.dialect, f.dsn)
	// Back to before 0012: without its index, and not recorded as applied.
	for _, q := range []string{"DROP INDEX users_username_lower", "DELETE FROM schema_migrations WHERE version = 12"} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	BOB, Bob := mustCreateUser(t, f.db, "BOB"), mustCreateUser(t, f.db, "Bob")
	raw.Close()
	db := openDB(t, f.dsn) // applies 0012 again
	s := store.NewUserService(db)
	for _, u := range []*paddock.User{bob, BOB, Bob} {
		got, err := s.User(ctx, u.ID)
		want := u.Username
		if u != bob {
			want = fmt.Sprintf("%s-%d", u.Username, u.ID)
		}
		if err != nil || got.Username != want {
			t.Errorf("user %d: %+v, %v; want username %q", u.ID, got, err, want)
		}
	}
	if got, err := s.UserByUsername(ctx, "BOB"); err != nil || got.ID != bob.ID {
		t.Errorf("UserByUsername(BOB) = %+v, %v; want the oldest, bob", got, err)
	}
	wantCode(t, s.CreateUser(ctx, &paddock.User{Username: "bOb"}), paddock.EConflict)
}

func testUsers(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewUserService(f.db)

	alice := &paddock.User{Username: "alice", Email: "alice@example.com", Nickname: "Alice", Role: paddock.RoleAdmin, PasswordHash: "h1"}
	bob := &paddock.User{Username: "bob", Email: "bob@example.com", PasswordHash: "h2"} // empty role: user
	carol := &paddock.User{Username: "carol", Role: paddock.RoleUser}
	for _, u := range []*paddock.User{alice, bob, carol} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Username, err)
		}
		if u.ID == 0 || u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Fatalf("CreateUser(%q) left ID %d, CreatedAt %v, UpdatedAt %v", u.Username, u.ID, u.CreatedAt, u.UpdatedAt)
		}
	}
	if bob.Role != paddock.RoleUser {
		t.Errorf("empty role stored as %q, want %q", bob.Role, paddock.RoleUser)
	}
	if !(alice.ID < bob.ID && bob.ID < carol.ID) {
		t.Errorf("ids not increasing: %d, %d, %d", alice.ID, bob.ID, carol.ID)
	}

	got, err := s.User(ctx, bob.ID)
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if diff := cmp.Diff(bob, got); diff != "" {
		t.Errorf("User (-want +got):\n%s", diff)
	}
	got, err = s.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByUsername: %v", err)
	}
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("UserByUsername (-want +got):\n%s", diff)
	}

	t.Run("Errors", func(t *testing.T) {
		err := s.CreateUser(ctx, &paddock.User{Username: "alice", Role: paddock.RoleUser})
		wantCode(t, err, paddock.EConflict)
		if msg := paddock.ErrorMessage(err); msg != `username "alice" is taken (usernames are the same whatever their case)` {
			t.Errorf("conflict message = %q", msg)
		}
		// Usernames are unique whatever their case, as login reads them.
		wantCode(t, s.CreateUser(ctx, &paddock.User{Username: "ALICE", Role: paddock.RoleUser}), paddock.EConflict)
		_, err = s.User(ctx, 999)
		wantCode(t, err, paddock.ENotFound)
		if msg := paddock.ErrorMessage(err); msg != "user 999 not found" {
			t.Errorf("not found message = %q", msg)
		}
		_, err = s.UserByUsername(ctx, "nobody")
		wantCode(t, err, paddock.ENotFound)
		if got, err := s.UserByUsername(ctx, "ALIce"); err != nil || got.ID != alice.ID { // whatever the case
			t.Errorf("UserByUsername(ALIce) = %+v, %v; want alice", got, err)
		}
		wantCode(t, s.CreateUser(ctx, &paddock.User{Username: " "}), paddock.EInvalid)
		wantCode(t, s.CreateUser(ctx, &paddock.User{Username: "dave", Role: "root"}), paddock.EInvalid)
		_, err = s.UpdateUser(ctx, 999, paddock.UserUpdate{Nickname: ptr("x")})
		wantCode(t, err, paddock.ENotFound)
		_, err = s.UpdateUser(ctx, 999, paddock.UserUpdate{})
		wantCode(t, err, paddock.ENotFound)
		_, err = s.UpdateUser(ctx, bob.ID, paddock.UserUpdate{Role: ptr(paddock.Role("root"))})
		wantCode(t, err, paddock.EInvalid)
		wantCode(t, s.DeleteUser(ctx, 999), paddock.ENotFound)
		_, _, err = s.Users(ctx, paddock.UserFilter{Offset: -1})
		wantCode(t, err, paddock.EInvalid)
	})

	t.Run("Filter", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			filter paddock.UserFilter
			want   []*paddock.User
			total  int
		}{
			{"all", paddock.UserFilter{}, []*paddock.User{alice, bob, carol}, 3},
			{"id", paddock.UserFilter{ID: &bob.ID}, []*paddock.User{bob}, 1},
			{"username", paddock.UserFilter{Username: ptr("carol")}, []*paddock.User{carol}, 1},
			{"username whatever its case", paddock.UserFilter{Username: ptr("CaRol")}, []*paddock.User{carol}, 1},
			{"role", paddock.UserFilter{Role: ptr(paddock.RoleUser)}, []*paddock.User{bob, carol}, 2},
			{"none", paddock.UserFilter{Username: ptr("nobody")}, []*paddock.User{}, 0},
			{"limit", paddock.UserFilter{Limit: 2}, []*paddock.User{alice, bob}, 3},
			{"offset", paddock.UserFilter{Offset: 1}, []*paddock.User{bob, carol}, 3},
			{"page", paddock.UserFilter{Offset: 1, Limit: 1}, []*paddock.User{bob}, 3},
			{"past the end", paddock.UserFilter{Offset: 5, Limit: 1}, []*paddock.User{}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, total, err := s.Users(ctx, tc.filter)
				if err != nil {
					t.Fatalf("Users: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Users (-want +got):\n%s", diff)
				}
				if total != tc.total {
					t.Errorf("total = %d, want %d", total, tc.total)
				}
			})
		}
	})

	t.Run("Update", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		upd, err := s.UpdateUser(ctx, carol.ID, paddock.UserUpdate{
			Email: ptr("c@example.com"), Nickname: ptr("Caz"), Role: ptr(paddock.RoleAdmin), PasswordHash: ptr("h3"),
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		want := *carol
		want.Email, want.Nickname, want.Role, want.PasswordHash = "c@example.com", "Caz", paddock.RoleAdmin, "h3"
		want.UpdatedAt = upd.UpdatedAt
		if diff := cmp.Diff(&want, upd); diff != "" {
			t.Errorf("UpdateUser (-want +got):\n%s", diff)
		}
		if upd.UpdatedAt.Before(before) || upd.UpdatedAt.Location() != time.UTC {
			t.Errorf("UpdatedAt = %v, want a UTC time after %v", upd.UpdatedAt, before)
		}
		got, err := s.User(ctx, carol.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(upd, got); diff != "" {
			t.Errorf("User after update (-want +got):\n%s", diff)
		}
		same, err := s.UpdateUser(ctx, carol.ID, paddock.UserUpdate{})
		if err != nil {
			t.Fatalf("empty UpdateUser: %v", err)
		}
		if diff := cmp.Diff(upd, same); diff != "" {
			t.Errorf("empty UpdateUser changed the user (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err := s.User(ctx, carol.ID)
		wantCode(t, err, paddock.ENotFound)
		wantCode(t, s.DeleteUser(ctx, carol.ID), paddock.ENotFound)
		// The username is free again.
		if err := s.CreateUser(ctx, &paddock.User{Username: "carol"}); err != nil {
			t.Errorf("CreateUser after delete: %v", err)
		}
	})
}

func testUserDeleteCascades(t *testing.T, f *fixture) {
	ctx := context.Background()
	users, keys, tokens := store.NewUserService(f.db), store.NewAPIKeyService(f.db), store.NewTokenService(f.db)
	u := mustCreateUser(t, f.db, "alice")
	other := mustCreateUser(t, f.db, "bob")

	for i, uid := range []int64{u.ID, u.ID, other.ID} {
		k := &paddock.APIKey{ID: fmt.Sprintf("key%d", i), UserID: uid, Hash: fmt.Sprintf("hash%d", i),
			Permissions: []paddock.EnvironmentPermission{{EnvironmentID: "env", Permission: paddock.PermissionRead}}}
		if err := keys.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		if err := tokens.CreateToken(ctx, &paddock.Token{ID: fmt.Sprintf("tok%d", i), UserID: uid, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for _, h := range []string{"hash0", "hash1"} {
		_, err := keys.APIKeyByHash(ctx, h)
		wantCode(t, err, paddock.ENotFound)
		_, _, err = keys.APIKeyUserByHash(ctx, h)
		wantCode(t, err, paddock.ENotFound)
	}
	for _, id := range []string{"tok0", "tok1"} {
		_, err := tokens.Token(ctx, id)
		wantCode(t, err, paddock.ENotFound)
		_, err = tokens.TokenUser(ctx, id)
		wantCode(t, err, paddock.ENotFound)
	}
	if got, err := keys.APIKeys(ctx, u.ID); err != nil || len(got) != 0 {
		t.Errorf("APIKeys of deleted user = %v, %v; want none", got, err)
	}
	// The other user keeps theirs.
	if _, err := keys.APIKeyByHash(ctx, "hash2"); err != nil {
		t.Errorf("other user's key: %v", err)
	}
	if _, err := tokens.Token(ctx, "tok2"); err != nil {
		t.Errorf("other user's token: %v", err)
	}
	// The permissions went with the keys: the ids can be reused cleanly.
	k := &paddock.APIKey{ID: "key0", UserID: other.ID, Hash: "hash0-new"}
	if err := keys.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey reusing an id: %v", err)
	}
	got, err := keys.APIKeyByHash(ctx, "hash0-new")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Permissions) != 0 {
		t.Errorf("reused key id inherited permissions %v", got.Permissions)
	}
}

func testAPIKeys(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewAPIKeyService(f.db)
	alice := mustCreateUser(t, f.db, "alice")
	bob := mustCreateUser(t, f.db, "bob")

	k1 := &paddock.APIKey{UserID: alice.ID, Description: "ci", Hash: "h1", CreatedAt: at(1)}
	k2 := &paddock.APIKey{
		ID: "k2", UserID: alice.ID, Description: "limited", Hash: "h2", CreatedAt: at(2), ExpiresAt: ptr(at(60)),
		Permissions: []paddock.EnvironmentPermission{
			{EnvironmentID: "env-b", Permission: paddock.PermissionWrite},
			{EnvironmentID: "env-a", Permission: paddock.PermissionRead},
			{EnvironmentID: "env-c", Permission: paddock.PermissionAdmin},
		},
	}
	k3 := &paddock.APIKey{ID: "k3", UserID: bob.ID, Hash: "h3"}
	for _, k := range []*paddock.APIKey{k2, k1, k3} { // k1 is older though created second
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	if k1.ID == "" {
		t.Fatal("CreateAPIKey did not set an ID")
	}
	if k3.CreatedAt.IsZero() {
		t.Fatal("CreateAPIKey did not set CreatedAt")
	}

	for _, want := range []*paddock.APIKey{k1, k2, k3} {
		got, err := s.APIKeyByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("APIKeyByHash(%q): %v", want.Hash, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("APIKeyByHash(%q) (-want +got):\n%s", want.Hash, diff)
		}
		// The same key with its user, from one query.
		got, gotUser, err := s.APIKeyUserByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("APIKeyUserByHash(%q): %v", want.Hash, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("APIKeyUserByHash(%q) key (-want +got):\n%s", want.Hash, diff)
		}
		wantUser := map[int64]*paddock.User{alice.ID: alice, bob.ID: bob}[want.UserID]
		if diff := cmp.Diff(wantUser, gotUser); diff != "" {
			t.Errorf("APIKeyUserByHash(%q) user (-want +got):\n%s", want.Hash, diff)
		}
	}
	got, err := s.APIKeys(ctx, alice.ID)
	if err != nil {
		t.Fatalf("APIKeys: %v", err)
	}
	if diff := cmp.Diff([]*paddock.APIKey{k1, k2}, got); diff != "" {
		t.Errorf("APIKeys (-want +got):\n%s", diff)
	}
	if got, err := s.APIKeys(ctx, 999); err != nil || got == nil || len(got) != 0 {
		t.Errorf("APIKeys(unknown user) = %#v, %v; want an empty slice", got, err)
	}

	t.Run("Errors", func(t *testing.T) {
		_, err := s.APIKeyByHash(ctx, "nope")
		wantCode(t, err, paddock.ENotFound)
		_, _, err = s.APIKeyUserByHash(ctx, "nope")
		wantCode(t, err, paddock.ENotFound)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{UserID: bob.ID, Hash: "h1"}), paddock.EConflict)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{ID: "k2", UserID: bob.ID, Hash: "h9"}), paddock.EConflict)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{UserID: 999, Hash: "h10"}), paddock.ENotFound)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{UserID: bob.ID}), paddock.EInvalid)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{UserID: bob.ID, Hash: "h11",
			Permissions: []paddock.EnvironmentPermission{{EnvironmentID: "e", Permission: "owner"}}}), paddock.EInvalid)
		wantCode(t, s.CreateAPIKey(ctx, &paddock.APIKey{UserID: bob.ID, Hash: "h12",
			Permissions: []paddock.EnvironmentPermission{
				{EnvironmentID: "e", Permission: paddock.PermissionRead},
				{EnvironmentID: "e", Permission: paddock.PermissionWrite},
			}}), paddock.EInvalid)
		// A failed create leaves nothing behind.
		if _, err := s.APIKeyByHash(ctx, "h12"); paddock.ErrorCode(err) != paddock.ENotFound {
			t.Errorf("APIKeyByHash after failed create: %v", err)
		}
		wantCode(t, s.TouchAPIKey(ctx, "nope", at(3)), paddock.ENotFound)
	})

	t.Run("Touch", func(t *testing.T) {
		if err := s.TouchAPIKey(ctx, k2.ID, at(10)); err != nil {
			t.Fatalf("TouchAPIKey: %v", err)
		}
		if err := s.TouchAPIKey(ctx, k2.ID, at(5)); err != nil { // older: ignored
			t.Fatalf("TouchAPIKey: %v", err)
		}
		got, err := s.APIKeyByHash(ctx, k2.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(10)) || got.LastUsedAt.Location() != time.UTC {
			t.Errorf("LastUsedAt = %v, want %v in UTC", got.LastUsedAt, at(10))
		}
	})

	t.Run("Delete", func(t *testing.T) {
		wantCode(t, s.DeleteAPIKey(ctx, bob.ID, k1.ID), paddock.ENotFound) // not bob's
		if _, err := s.APIKeyByHash(ctx, k1.Hash); err != nil {
			t.Fatalf("key deleted by another user: %v", err)
		}
		if err := s.DeleteAPIKey(ctx, alice.ID, k2.ID); err != nil {
			t.Fatalf("DeleteAPIKey: %v", err)
		}
		_, err := s.APIKeyByHash(ctx, k2.Hash)
		wantCode(t, err, paddock.ENotFound)
		wantCode(t, s.DeleteAPIKey(ctx, alice.ID, k2.ID), paddock.ENotFound)
		got, err := s.APIKeys(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]*paddock.APIKey{k1}, got); diff != "" {
			t.Errorf("APIKeys after delete (-want +got):\n%s", diff)
		}
	})
}

func testTokens(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewTokenService(f.db)
	u := mustCreateUser(t, f.db, "alice")
	now := at(30)

	expired := &paddock.Token{ID: "expired", UserID: u.ID, IssuedAt: at(0), ExpiresAt: at(15)}
	expiring := &paddock.Token{ID: "expiring", UserID: u.ID, IssuedAt: at(0), ExpiresAt: now}
	live := &paddock.Token{ID: "live", UserID: u.ID, IssuedAt: at(20), ExpiresAt: at(45)}
	later := &paddock.Token{UserID: u.ID, ExpiresAt: at(50)}
	for _, tok := range []*paddock.Token{expired, expiring, live, later} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
	}
	if later.ID == "" || later.IssuedAt.IsZero() {
		t.Errorf("CreateToken left ID %q, IssuedAt %v", later.ID, later.IssuedAt)
	}
	got, err := s.Token(ctx, "live")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if diff := cmp.Diff(live, got); diff != "" {
		t.Errorf("Token (-want +got):\n%s", diff)
	}

	// TokenUser: the token's user in one query, and revocation below
	// applies to it at once.
	gotUser, err := s.TokenUser(ctx, "live")
	if err != nil {
		t.Fatalf("TokenUser: %v", err)
	}
	if diff := cmp.Diff(u, gotUser); diff != "" {
		t.Errorf("TokenUser (-want +got):\n%s", diff)
	}
	_, err = s.TokenUser(ctx, "unknown")
	wantCode(t, err, paddock.ENotFound)

	wantCode(t, s.CreateToken(ctx, &paddock.Token{ID: "live", UserID: u.ID, ExpiresAt: at(40)}), paddock.EConflict)
	wantCode(t, s.CreateToken(ctx, &paddock.Token{UserID: 999, ExpiresAt: at(40)}), paddock.ENotFound)
	wantCode(t, s.CreateToken(ctx, &paddock.Token{UserID: u.ID}), paddock.EInvalid)
	_, err = s.Token(ctx, "unknown")
	wantCode(t, err, paddock.ENotFound)

	if err := s.RevokeToken(ctx, "live"); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, err = s.Token(ctx, "live")
	wantCode(t, err, paddock.ENotFound)
	_, err = s.TokenUser(ctx, "live")
	wantCode(t, err, paddock.ENotFound)
	wantCode(t, s.RevokeToken(ctx, "live"), paddock.ENotFound)

	n, err := s.DeleteExpiredTokens(ctx, now)
	if err != nil {
		t.Fatalf("DeleteExpiredTokens: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpiredTokens = %d, want 2 (expired and expiring)", n)
	}
	for _, id := range []string{"expired", "expiring"} {
		_, err := s.Token(ctx, id)
		wantCode(t, err, paddock.ENotFound)
	}
	if _, err := s.Token(ctx, later.ID); err != nil {
		t.Errorf("unexpired token deleted: %v", err)
	}
	if n, err := s.DeleteExpiredTokens(ctx, now); err != nil || n != 0 {
		t.Errorf("second DeleteExpiredTokens = %d, %v; want 0", n, err)
	}
}

func testEnvironment(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewEnvironmentService(f.db)
	env := &paddock.Environment{
		ID: "env-1", Name: "py", OwnerID: 7, Status: paddock.EnvironmentRunning, Reason: "",
		Image:     "python:3.11-slim",
		Resources: paddock.Resources{CPU: "500m", Memory: "512Mi", Storage: "1Gi"},
		Timeout:   3600,
		OnTimeout: paddock.OnTimeoutHibernate,
		Env:       map[string]string{"A": "1", "QUOTE": `"'?`},
		Command:   []string{"sleep", "infinity"},
		Labels:    map[string]string{"team": "ml", "tier": "dev"},
		NodeSelector: map[string]string{
			"kubernetes.io/arch": "amd64",
		},
		Tolerations: []paddock.Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoSchedule", TolerationSeconds: ptr(int64(30))}},
		Isolation: paddock.Isolation{
			RuntimeClass: "gvisor",
			NetworkPolicy: &paddock.NetworkPolicy{
				AllowInternet: ptr(false), AllowedEgressCIDRs: []string{"10.0.0.0/8"},
				AllowedIngressPorts: []int{8080}, AllowedDomains: []string{"pypi.org"},
			},
			SecurityContext: &paddock.SecurityContext{RunAsUser: ptr(int64(1000)), ReadOnlyRootFilesystem: true},
		},
		Endpoint:  "10.1.2.3:49983",
		Namespace: "paddock",
		CreatedAt: at(1),
		StartedAt: ptr(at(2)),
		ExpiresAt: ptr(at(62)),
	}
	if err := s.CreateEnvironment(ctx, env); err != nil {
		t.Fatalf("CreateEnvironment: %v", err)
	}
	got, err := s.Environment(ctx, env.ID)
	if err != nil {
		t.Fatalf("Environment: %v", err)
	}
	if diff := cmp.Diff(env, got); diff != "" {
		t.Errorf("Environment (-want +got):\n%s", diff)
	}

	// Zero values round trip too, nil maps and slices included.
	bare := &paddock.Environment{OwnerID: 7}
	if err := s.CreateEnvironment(ctx, bare); err != nil {
		t.Fatalf("CreateEnvironment(bare): %v", err)
	}
	if bare.ID == "" || bare.Status != paddock.EnvironmentPending || bare.CreatedAt.IsZero() {
		t.Errorf("CreateEnvironment left ID %q, Status %q, CreatedAt %v", bare.ID, bare.Status, bare.CreatedAt)
	}
	got, err = s.Environment(ctx, bare.ID)
	if err != nil {
		t.Fatalf("Environment(bare): %v", err)
	}
	if diff := cmp.Diff(bare, got); diff != "" {
		t.Errorf("Environment(bare) (-want +got):\n%s", diff)
	}

	t.Run("Errors", func(t *testing.T) {
		_, err := s.Environment(ctx, "nope")
		wantCode(t, err, paddock.ENotFound)
		if msg := paddock.ErrorMessage(err); msg != `environment "nope" not found` {
			t.Errorf("not found message = %q", msg)
		}
		wantCode(t, s.CreateEnvironment(ctx, &paddock.Environment{ID: "env-1"}), paddock.EConflict)
		wantCode(t, s.CreateEnvironment(ctx, &paddock.Environment{Status: "exploded"}), paddock.EInvalid)
		_, err = s.UpdateEnvironment(ctx, "nope", paddock.EnvironmentUpdate{Reason: ptr("x")})
		wantCode(t, err, paddock.ENotFound)
		_, err = s.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{Status: ptr(paddock.EnvironmentStatus("exploded"))})
		wantCode(t, err, paddock.EInvalid)
		wantCode(t, s.DeleteEnvironment(ctx, "nope"), paddock.ENotFound)
	})

	t.Run("Update", func(t *testing.T) {
		upd, err := s.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{
			Status:    ptr(paddock.EnvironmentFailed),
			Reason:    ptr("OOMKilled"),
			StartedAt: ptr(at(3)),
			ExpiresAt: &time.Time{}, // clears
			EndedAt:   ptr(at(4)),
			Endpoint:  ptr(""),
			Namespace: ptr("other"),
			Timeout:   ptr(60),
			OnTimeout: ptr(paddock.OnTimeoutPause),

			PausedRemaining: ptr(42),
		})
		if err != nil {
			t.Fatalf("UpdateEnvironment: %v", err)
		}
		want := *env
		want.Status, want.Reason, want.StartedAt, want.ExpiresAt, want.EndedAt = paddock.EnvironmentFailed, "OOMKilled", ptr(at(3)), nil, ptr(at(4))
		want.Endpoint, want.Namespace = "", "other"
		want.Timeout, want.OnTimeout, want.PausedRemaining = 60, paddock.OnTimeoutPause, 42
		if diff := cmp.Diff(&want, upd); diff != "" {
			t.Errorf("UpdateEnvironment (-want +got):\n%s", diff)
		}
		got, err := s.Environment(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Environment after update (-want +got):\n%s", diff)
		}
		same, err := s.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{})
		if err != nil {
			t.Fatalf("empty UpdateEnvironment: %v", err)
		}
		if diff := cmp.Diff(&want, same); diff != "" {
			t.Errorf("empty UpdateEnvironment (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := s.DeleteEnvironment(ctx, env.ID); err != nil {
			t.Fatalf("DeleteEnvironment: %v", err)
		}
		_, err := s.Environment(ctx, env.ID)
		wantCode(t, err, paddock.ENotFound)
		wantCode(t, s.DeleteEnvironment(ctx, env.ID), paddock.ENotFound)
	})
}

func testEnvironmentFilters(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewEnvironmentService(f.db)
	type e struct {
		id     string
		owner  int64
		status paddock.EnvironmentStatus
		labels map[string]string
		minute int
	}
	// e5 and e6 share a creation time: the id breaks the tie.
	for _, e := range []e{
		{"e1", 1, paddock.EnvironmentRunning, map[string]string{"team": "ml", "tier": "prod"}, 1},
		{"e2", 1, paddock.EnvironmentPaused, map[string]string{"team": "ml", "tier": "dev"}, 2},
		{"e3", 2, paddock.EnvironmentRunning, map[string]string{"team": "web"}, 3},
		{"e4", 2, paddock.EnvironmentFailed, nil, 4},
		{"e5", 1, paddock.EnvironmentRunning, map[string]string{"team": "ml"}, 5},
		{"e6", 1, paddock.EnvironmentPending, map[string]string{"tier": "dev"}, 5},
	} {
		if err := s.CreateEnvironment(ctx, &paddock.Environment{
			ID: e.id, OwnerID: e.owner, Status: e.status, Labels: e.labels, Image: "alpine", CreatedAt: at(e.minute),
		}); err != nil {
			t.Fatalf("CreateEnvironment(%s): %v", e.id, err)
		}
	}
	sel := func(s string) paddock.LabelSelector {
		l, err := paddock.ParseLabelSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		filter paddock.EnvironmentFilter
		want   []string
		total  int
	}{
		{"all newest first", paddock.EnvironmentFilter{}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}, 6},
		{"owner", paddock.EnvironmentFilter{OwnerID: ptr(int64(2))}, []string{"e4", "e3"}, 2},
		{"ids", paddock.EnvironmentFilter{IDs: []string{"e1", "e3", "nope"}}, []string{"e3", "e1"}, 2},
		{"ids empty", paddock.EnvironmentFilter{IDs: []string{}}, []string{}, 0},
		{"ids nil", paddock.EnvironmentFilter{IDs: nil, OwnerID: ptr(int64(1))}, []string{"e6", "e5", "e2", "e1"}, 4},
		{"status", paddock.EnvironmentFilter{Status: ptr(paddock.EnvironmentRunning)}, []string{"e5", "e3", "e1"}, 3},
		{"statuses", paddock.EnvironmentFilter{Statuses: []paddock.EnvironmentStatus{paddock.EnvironmentPaused, paddock.EnvironmentFailed}}, []string{"e4", "e2"}, 2},
		{"status and statuses", paddock.EnvironmentFilter{Status: ptr(paddock.EnvironmentRunning), Statuses: []paddock.EnvironmentStatus{paddock.EnvironmentFailed}}, []string{}, 0},
		{"label =", paddock.EnvironmentFilter{Labels: sel("team=ml")}, []string{"e5", "e2", "e1"}, 3},
		{"label !=", paddock.EnvironmentFilter{Labels: sel("team!=ml")}, []string{"e6", "e4", "e3"}, 3},
		{"labels and", paddock.EnvironmentFilter{Labels: sel("team=ml,tier!=prod")}, []string{"e5", "e2"}, 2},
		{"labels and owner", paddock.EnvironmentFilter{Labels: sel("tier=dev"), OwnerID: ptr(int64(1))}, []string{"e6", "e2"}, 2},
		{"labels none", paddock.EnvironmentFilter{Labels: sel("team=ops")}, []string{}, 0},
		{"limit", paddock.EnvironmentFilter{Limit: 2}, []string{"e6", "e5"}, 6},
		{"offset", paddock.EnvironmentFilter{Offset: 4}, []string{"e2", "e1"}, 6},
		{"page", paddock.EnvironmentFilter{Offset: 1, Limit: 2}, []string{"e5", "e4"}, 6},
		{"page past the end", paddock.EnvironmentFilter{Offset: 10, Limit: 2}, []string{}, 6},
		{"labels page", paddock.EnvironmentFilter{Labels: sel("team=ml"), Offset: 1, Limit: 1}, []string{"e2"}, 3},
		{"labels offset", paddock.EnvironmentFilter{Labels: sel("team=ml"), Offset: 2}, []string{"e1"}, 3},
		{"labels past the end", paddock.EnvironmentFilter{Labels: sel("team=ml"), Offset: 3, Limit: 5}, []string{}, 3},
		{"owner status page", paddock.EnvironmentFilter{OwnerID: ptr(int64(1)), Status: ptr(paddock.EnvironmentRunning), Limit: 1}, []string{"e5"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			envs, total, err := s.Environments(ctx, tc.filter)
			if err != nil {
				t.Fatalf("Environments: %v", err)
			}
			got := []string{}
			for _, e := range envs {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if total != tc.total {
				t.Errorf("total = %d, want %d", total, tc.total)
			}
		})
	}
	_, _, err := s.Environments(ctx, paddock.EnvironmentFilter{Limit: -1})
	wantCode(t, err, paddock.EInvalid)
}

func testTimesInUTC(t *testing.T, f *fixture) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	local := time.Date(2025, 1, 2, 3, 4, 5, 123456789, zone)
	want := local.UTC().Truncate(time.Microsecond) // stored precision

	users := store.NewUserService(f.db)
	u := &paddock.User{Username: "alice", CreatedAt: local}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	envs := store.NewEnvironmentService(f.db)
	env := &paddock.Environment{OwnerID: u.ID, CreatedAt: local, ExpiresAt: &local}
	if err := envs.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	keys := store.NewAPIKeyService(f.db)
	if err := keys.CreateAPIKey(ctx, &paddock.APIKey{UserID: u.ID, Hash: "h", CreatedAt: local, ExpiresAt: &local}); err != nil {
		t.Fatal(err)
	}

	gotU, err := users.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotE, err := envs.Environment(ctx, env.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotK, err := keys.APIKeyByHash(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]time.Time{
		"user.CreatedAt": gotU.CreatedAt, "user.UpdatedAt": gotU.UpdatedAt,
		"environment.CreatedAt": gotE.CreatedAt, "environment.ExpiresAt": *gotE.ExpiresAt,
		"apikey.CreatedAt": gotK.CreatedAt, "apikey.ExpiresAt": *gotK.ExpiresAt,
		"created user.CreatedAt": u.CreatedAt,
	} {
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// testConcurrentWrites writes from many goroutines at once, reading as it
// goes: on SQLite none may fail with SQLITE_BUSY.
func testConcurrentWrites(t *testing.T, f *fixture) {
	ctx := context.Background()
	users, keys, envs := store.NewUserService(f.db), store.NewAPIKeyService(f.db), store.NewEnvironmentService(f.db)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				u := &paddock.User{Username: fmt.Sprintf("u%d-%d", w, i)}
				if err := users.CreateUser(ctx, u); err != nil {
					errs <- err
					return
				}
				k := &paddock.APIKey{UserID: u.ID, Hash: u.Username, Permissions: []paddock.EnvironmentPermission{
					{EnvironmentID: "e", Permission: paddock.PermissionRead},
				}}
				if err := keys.CreateAPIKey(ctx, k); err != nil {
					errs <- err
					return
				}
				if err := keys.TouchAPIKey(ctx, k.ID, time.Now()); err != nil {
					errs <- err
					return
				}
				if _, err := keys.APIKeyByHash(ctx, k.Hash); err != nil {
					errs <- err
					return
				}
				if err := envs.CreateEnvironment(ctx, &paddock.Environment{OwnerID: u.ID}); err != nil {
					errs <- err
					return
				}
				if _, _, err := envs.Environments(ctx, paddock.EnvironmentFilter{OwnerID: &u.ID}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	_, total, err := users.Users(ctx, paddock.UserFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != workers*each {
		t.Errorf("%d users, want %d", total, workers*each)
	}
}

// testIdentities: an OAuth2 account links one user, found again by the
// provider's id; users are found by email whatever its case; deleting the
// user drops the link.
func testIdentities(t *testing.T, f *fixture) {
	ctx := context.Background()
	users, ids := store.NewUserService(f.db), store.NewIdentityService(f.db)
	u := &paddock.User{Username: "octo", Email: "Octo@Example.com", Role: paddock.RoleUser}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err := ids.IdentityUser(ctx, "github", "4242")
	wantCode(t, err, paddock.ENotFound)
	if err := ids.LinkIdentity(ctx, "github", "4242", u.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ids.LinkIdentity(ctx, "github", "4242", u.ID), paddock.EConflict)
	wantCode(t, ids.LinkIdentity(ctx, "google", "g-1", 99999), paddock.ENotFound)
	if err := ids.LinkIdentity(ctx, "google", "4242", u.ID); err != nil { // the same id at another provider
		t.Fatal(err)
	}
	if id, err := ids.IdentityUser(ctx, "github", "4242"); err != nil || id != u.ID {
		t.Errorf("IdentityUser = %d, %v", id, err)
	}
	email := "octo@example.COM"
	if list, n, err := users.Users(ctx, paddock.UserFilter{Email: &email}); err != nil || n != 1 || list[0].ID != u.ID {
		t.Errorf("Users by email = %v, %d, %v", list, n, err)
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = ids.IdentityUser(ctx, "github", "4242")
	wantCode(t, err, paddock.ENotFound)
}
