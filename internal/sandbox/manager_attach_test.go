package sandbox_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// TestManagerInteractive checks the Manager's attach, file and port
// methods reach the runtime only for running environments.
func TestManagerInteractive(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	env := f.create(t, &paddock.Environment{Name: "interactive"})
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)

	if _, err := f.m.WriteFile(ctx, env.ID, "/tmp/a/b.txt", strings.NewReader("via manager"), 0); err != nil {
		t.Fatal(err)
	}
	rc, fi, err := f.m.ReadFile(ctx, env.ID, "/tmp/a/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "via manager" || fi.Perm != 0o644 {
		t.Fatalf("read %q %+v", b, fi)
	}
	s, err := f.m.Attach(ctx, env.ID, paddock.AttachRequest{Command: []string{"sh", "-c", "exit 7"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(); code != 7 || err != nil {
		t.Fatalf("attach: %d %v", code, err)
	}
	s.Close()
	if _, err := f.m.DialPort(ctx, env.ID, 0); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("port 0: %v", err)
	}
	if _, _, err := f.m.ReadFile(ctx, env.ID, ""); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("empty path: %v", err)
	}

	if err := f.m.Pause(ctx, env.ID, sandbox.PauseFreeze); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"write": func() error { _, err := f.m.WriteFile(ctx, env.ID, "/x", strings.NewReader("x"), 0); return err }(),
		"list":  func() error { _, err := f.m.ListFiles(ctx, env.ID, "/"); return err }(),
		"attach": func() error {
			_, err := f.m.Attach(ctx, env.ID, paddock.AttachRequest{})
			return err
		}(),
		"dial": func() error { _, err := f.m.DialPort(ctx, env.ID, 80); return err }(),
	} {
		if paddock.ErrorCode(err) != paddock.EConflict || paddock.ErrorMessage(err) != "environment "+env.ID+" is paused" {
			t.Errorf("%s while paused: %v", name, err)
		}
	}
	if err := f.m.Resume(ctx, env.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StatFile(ctx, env.ID, "/tmp/a/b.txt"); err != nil {
		t.Fatalf("after resume: %v", err)
	}
	if _, err := f.m.ListFiles(ctx, "env-unknown", "/"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Fatalf("unknown environment: %v", err)
	}
}
