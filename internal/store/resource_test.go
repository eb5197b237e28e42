package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// testResources: resources are listed with the shared ones, filtered by a
// literal title substring, paged newest first; their chunks are searched by
// any word, stemmed, ranked, within the given resources only; deleting a
// resource, or its owner, takes its chunks out of the full-text index.
func testResources(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := store.NewResourceService(f.db)
	alice := mustCreateUser(t, f.db, "alice")
	bob := mustCreateUser(t, f.db, "bob")

	create := func(owner int64, title string, chunks ...string) *paddock.Resource {
		t.Helper()
		r := &paddock.Resource{OwnerID: owner, Title: title, Description: "about " + title, Filename: "f.txt",
			MediaType: "text/plain", Size: int64(len(strings.Join(chunks, "\n")))}
		if err := s.CreateResource(ctx, r, chunks); err != nil {
			t.Fatalf("CreateResource(%q): %v", title, err)
		}
		return r
	}
	docker := create(0, "Container handbook",
		"Docker runs containers in isolation.",
		"A container image bundles an application with its dependencies; a container runtime starts the image.",
		"Unrelated text about cooking pasta.")
	notes := create(alice.ID, "Alice's 50% notes", "Kubernetes schedules pods onto nodes.", "Pods hold containers.")
	decoy := create(alice.ID, "500 tips_and tricks", "Nothing to see here.")
	guide := create(bob.ID, "Bob's guide", "Another container primer.")

	if !strings.HasPrefix(docker.ID, "res_") || docker.Chunks != 3 || docker.CreatedAt.IsZero() || docker.CreatedAt.Location() != time.UTC {
		t.Errorf("created %+v", docker)
	}
	got, err := s.Resource(ctx, notes.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(notes, got); diff != "" {
		t.Errorf("Resource (-want +got):\n%s", diff)
	}
	_, err = s.Resource(ctx, "res_nope")
	wantCode(t, err, paddock.ENotFound)
	wantCode(t, s.CreateResource(ctx, &paddock.Resource{OwnerID: 99999, Title: "x", MediaType: "text/plain"}, []string{"x"}), paddock.ENotFound)
	wantCode(t, s.CreateResource(ctx, &paddock.Resource{MediaType: "text/plain"}, nil), paddock.EInvalid)
	// Many chunks go in batches (256, then powers of two): every one is
	// stored once, in order, and indexed.
	batch := make([]string, 300)
	for i := range batch {
		batch[i] = fmt.Sprintf("filler passage number %d", i)
	}
	batch[299] = "the zeppelin passage"
	longDoc := create(bob.ID, "Long", batch...)
	if hits, err := s.SearchResources(ctx, []string{longDoc.ID}, "zeppelin", 5); err != nil || len(hits) != 1 || hits[0].Chunk != 299 || hits[0].Text != batch[299] {
		t.Errorf("search of the 300th chunk: %+v %v", hits, err)
	}
	if hits, err := s.SearchResources(ctx, []string{longDoc.ID}, "number 255", 50); err != nil || len(hits) < 1 || hits[0].Chunk != 255 {
		t.Errorf("search of the 256th chunk: %+v %v", hits, err)
	}
	if err := s.DeleteResource(ctx, longDoc.ID); err != nil {
		t.Fatal(err)
	}
	empty := create(0, `Empty C:\tmp`)
	if empty.Chunks != 0 {
		t.Errorf("Chunks of a resource without text = %d", empty.Chunks)
	}

	// Newest first, ties by id; every resource when no owner is given.
	all := []*paddock.Resource{docker, notes, decoy, guide, empty}
	slices.SortFunc(all, func(a, b *paddock.Resource) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	list, total, err := s.Resources(ctx, paddock.ResourceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all, list); diff != "" || total != len(all) {
		t.Errorf("Resources: total %d (-want +got):\n%s", total, diff)
	}
	ids := func(rs []*paddock.Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name   string
		filter paddock.ResourceFilter
		want   []*paddock.Resource
	}{
		{"own and shared", paddock.ResourceFilter{OwnerID: alice.ID}, []*paddock.Resource{docker, notes, decoy, empty}},
		{"bob", paddock.ResourceFilter{OwnerID: bob.ID}, []*paddock.Resource{docker, guide, empty}},
		{"literal percent", paddock.ResourceFilter{OwnerID: alice.ID, Query: "50%"}, []*paddock.Resource{notes}},
		{"literal underscore", paddock.ResourceFilter{Query: "s_a"}, []*paddock.Resource{decoy}},
		{"case", paddock.ResourceFilter{Query: "CONTAINER"}, []*paddock.Resource{docker}},
		{"literal backslash", paddock.ResourceFilter{Query: `c:\T`}, []*paddock.Resource{empty}},
		{"no match", paddock.ResourceFilter{Query: `\%`}, nil},
	} {
		list, total, err := s.Resources(ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(ids(tc.want), ids(list)); diff != "" || total != len(tc.want) {
			t.Errorf("%s: total %d (-want +got):\n%s", tc.name, total, diff)
		}
	}
	page, total, err := s.Resources(ctx, paddock.ResourceFilter{Offset: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all[1:3], page); diff != "" || total != len(all) {
		t.Errorf("page: total %d (-want +got):\n%s", total, diff)
	}
	_, _, err = s.Resources(ctx, paddock.ResourceFilter{Offset: -1})
	wantCode(t, err, paddock.EInvalid)

	// Search: more matching words rank first; "containers" and "container"
	// are one word; other resources are not searched.
	hits, err := s.SearchResources(ctx, []string{docker.ID, notes.ID}, "Container image RUNTIME", 0)
	if err != nil {
		t.Fatal(err)
	}
	type hit struct {
		ID    string
		Chunk int
	}
	flat := func(hs []*paddock.ResourceHit) []hit {
		out := []hit{}
		for _, h := range hs {
			out = append(out, hit{h.ResourceID, h.Chunk})
		}
		return out
	}
	if len(hits) != 3 || hits[0].ResourceID != docker.ID || hits[0].Chunk != 1 || hits[0].Title != docker.Title ||
		!strings.Contains(hits[0].Text, "bundles") {
		t.Fatalf("hits %+v", flat(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Errorf("hit %d scores %v, more than hit %d's %v", i, hits[i].Score, i-1, hits[i-1].Score)
		}
	}
	if diff := cmp.Diff([]hit{{docker.ID, 1}, {docker.ID, 0}, {notes.ID, 1}}, flat(hits),
		cmpopts.SortSlices(func(a, b hit) bool { return a.ID < b.ID || a.ID == b.ID && a.Chunk < b.Chunk })); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
	hits, err = s.SearchResources(ctx, []string{docker.ID}, "containers", 1)
	if err != nil || len(hits) != 1 || hits[0].ResourceID != docker.ID || hits[0].Score <= 0 {
		t.Errorf("stemmed, limit 1: %+v, %v", hits, err)
	}
	hits, err = s.SearchResources(ctx, []string{guide.ID}, "containers", 10)
	if diff := cmp.Diff([]hit{{guide.ID, 0}}, flat(hits)); diff != "" || err != nil {
		t.Errorf("bob's guide only: %v (-want +got):\n%s", err, diff)
	}
	for _, tc := range []struct {
		name  string
		ids   []string
		query string
	}{
		{"no ids", nil, "container"},
		{"no words", []string{docker.ID}, " ,.;!? -- "},
		// Stop words to PostgreSQL, which ignores them with a notice; in
		// no chunk either, for SQLite.
		{"stop words", []string{docker.ID, notes.ID}, "whom were being"},
		{"unknown word", []string{docker.ID}, "zebra"},
		{"unknown id", []string{"res_nope"}, "container"},
		{"operators are words", []string{docker.ID}, `NOT" OR * (NEAR) : ' & |`},
	} {
		hits, err := s.SearchResources(ctx, tc.ids, tc.query, 5)
		if err != nil || hits == nil || len(hits) != 0 {
			t.Errorf("%s: %+v, %v; want no hits", tc.name, flat(hits), err)
		}
	}
	many := make([]string, 60)
	for i := range many {
		many[i] = "alpha beta"
	}
	big := create(0, "Big", many...)
	for limit, want := range map[int]int{0: 5, -1: 5, 7: 7, 100: 50} {
		if hits, err := s.SearchResources(ctx, []string{big.ID}, "alpha", limit); err != nil || len(hits) != want {
			t.Errorf("limit %d: %d hits, %v; want %d", limit, len(hits), err, want)
		}
	}

	// Deleting a resource takes its chunks out of the index.
	wantCode(t, s.DeleteResource(ctx, "res_nope"), paddock.ENotFound)
	if err := s.DeleteResource(ctx, docker.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteResource(ctx, docker.ID), paddock.ENotFound)
	_, err = s.Resource(ctx, docker.ID)
	wantCode(t, err, paddock.ENotFound)
	if hits, err := s.SearchResources(ctx, []string{docker.ID, notes.ID}, "docker container", 10); err != nil ||
		cmp.Diff([]hit{{notes.ID, 1}}, flat(hits)) != "" {
		t.Errorf("after delete: %+v, %v", flat(hits), err)
	}
	raw := rawDB(t, f.dialect, f.dsn)
	wantIndexed(t, raw, f.dialect, docker.ID, 0)
	wantIndexed(t, raw, f.dialect, guide.ID, 1)

	// Deleting a user takes their resources and chunks, and no one else's.
	if err := store.NewUserService(f.db).DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Resource(ctx, notes.ID)
	wantCode(t, err, paddock.ENotFound)
	if hits, err := s.SearchResources(ctx, []string{notes.ID, decoy.ID, guide.ID}, "pods containers nothing", 10); err != nil ||
		cmp.Diff([]hit{{guide.ID, 0}}, flat(hits)) != "" {
		t.Errorf("after deleting the owner: %+v, %v", flat(hits), err)
	}
	wantIndexed(t, raw, f.dialect, notes.ID, 0)
	wantIndexed(t, raw, f.dialect, decoy.ID, 0)
	wantIndexed(t, raw, f.dialect, guide.ID, 1)
	if list, total, err := s.Resources(ctx, paddock.ResourceFilter{}); err != nil || total != 3 || len(list) != 3 {
		t.Errorf("after deleting the owner: %d resources, %v", total, err)
	}
	if f.dialect == store.DialectSQLite {
		// The index agrees with its content table, rank by rank.
		if _, err := raw.ExecContext(ctx, "INSERT INTO rag_chunks_fts (rag_chunks_fts, rank) VALUES ('integrity-check', 1)"); err != nil {
			t.Errorf("FTS5 integrity-check: %v", err)
		}
	}
}

// wantIndexed checks that resource id has n chunks in the table and, on
// SQLite, in the full-text index, whose entries would outlive their rows
// (an external-content FTS5 table) if its triggers missed a delete.
func wantIndexed(t *testing.T, raw *sql.DB, dialect, id string, n int) {
	t.Helper()
	ctx := context.Background()
	var rows int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM rag_chunks WHERE resource_id = '"+id+"'").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("resource %s has %d chunks, want %d", id, rows, n)
	}
	if dialect != store.DialectSQLite {
		return
	}
	// An entry whose row is gone is still in the index, though no join
	// returns it: count the index's documents against the table's rows.
	var indexed, all int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM rag_chunks_fts_docsize").Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM rag_chunks").Scan(&all); err != nil {
		t.Fatal(err)
	}
	if indexed != all {
		t.Errorf("the index holds %d chunks, the table %d", indexed, all)
	}
}
