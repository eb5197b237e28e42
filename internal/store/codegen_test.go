package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// TestGenBusinessStore runs the code generator configurations suite on
// SQLite, and on PostgreSQL when PADDOCK_TEST_POSTGRES_DSN is set.
func TestGenBusinessStore(t *testing.T) {
	runSuite(t, []suiteCase{{"GenBusinesses", testGenBusinesses}})
}

func testGenBusinesses(t *testing.T, f *fixture) {
	ctx := context.Background()
	users := store.NewUserService(f.db)
	u := &paddock.User{Username: "gina", PasswordHash: "x", Role: paddock.RoleAdmin}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	s := store.NewGenBusinessService(f.db)
	b := &paddock.GenBusiness{AppName: "inventory", TableName: "inv_item", ClassName: "InvItem", DocComment: "an item", TableComment: "items, 'quoted'",
		APIVersion: "v1", Remark: "r", CreatedBy: u.ID, Columns: []paddock.GenColumn{
			{Name: "sku", Type: paddock.GenString, Length: 64, Comment: "unit ✓"},
			{Name: "seen_at", Type: paddock.GenTime, Nullable: true},
		}}
	if err := s.CreateGenBusiness(ctx, b); err != nil {
		t.Fatal(err)
	}
	if b.ID == 0 || b.CreatedAt.IsZero() || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Errorf("created %+v", b)
	}
	got, err := s.GenBusiness(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	wantCode(t, s.CreateGenBusiness(ctx, &paddock.GenBusiness{AppName: "other", TableName: "inv_item", ClassName: "X", APIVersion: "v1"}), paddock.EConflict)
	second := &paddock.GenBusiness{AppName: "crm", TableName: "contact", ClassName: "Contact", APIVersion: "v2", Columns: []paddock.GenColumn{{Name: "name", Type: paddock.GenText}}}
	if err := s.CreateGenBusiness(ctx, second); err != nil {
		t.Fatal(err)
	}

	list, total, err := s.GenBusinesses(ctx, paddock.GenBusinessFilter{Limit: 1, Offset: 1})
	if err != nil || total != 2 || len(list) != 1 || list[0].TableName != "contact" || list[0].CreatedBy != 0 {
		t.Errorf("page 2 of 1: %v %d %+v", err, total, list)
	}
	name := "inv_item"
	list, total, err = s.GenBusinesses(ctx, paddock.GenBusinessFilter{TableName: &name})
	if err != nil || total != 1 || list[0].ID != b.ID {
		t.Errorf("by table name: %v %d %+v", err, total, list)
	}

	// An update replaces all but the id, creator and creation time.
	upd := &paddock.GenBusiness{AppName: "stock", TableName: "stock_item", ClassName: "StockItem", APIVersion: "v3",
		Columns: []paddock.GenColumn{{Name: "qty", Type: paddock.GenInt}}}
	if err := s.UpdateGenBusiness(ctx, b.ID, upd); err != nil {
		t.Fatal(err)
	}
	if upd.ID != b.ID || upd.CreatedBy != u.ID || !upd.CreatedAt.Equal(b.CreatedAt) || upd.UpdatedAt.Before(b.UpdatedAt) || upd.TableName != "stock_item" || len(upd.Columns) != 1 || upd.DocComment != "" {
		t.Errorf("updated %+v", upd)
	}
	wantCode(t, s.UpdateGenBusiness(ctx, b.ID, &paddock.GenBusiness{AppName: "a", TableName: "contact", ClassName: "A", APIVersion: "v1"}), paddock.EConflict)
	wantCode(t, s.UpdateGenBusiness(ctx, 9999, upd), paddock.ENotFound)

	// Deleting the creator keeps the configuration, without a creator.
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GenBusiness(ctx, b.ID); err != nil || got.CreatedBy != 0 {
		t.Errorf("after the creator's deletion: %+v, %v", got, err)
	}
	if err := s.DeleteGenBusiness(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GenBusiness(ctx, b.ID)
	wantCode(t, err, paddock.ENotFound)
	wantCode(t, s.DeleteGenBusiness(ctx, b.ID), paddock.ENotFound)
}
