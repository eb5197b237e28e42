package oci

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/sandbox"
)

// warmIDs returns the ids of the pool's ready, unclaimed environments.
func warmIDs(rt *Runtime) []string {
	rt.warm.mu.Lock()
	defer rt.warm.mu.Unlock()
	var ids []string
	for _, ws := range rt.warm.idle {
		for _, w := range ws {
			select {
			case <-w.ready:
				if w.err == nil {
					ids = append(ids, w.id)
				}
			default:
			}
		}
	}
	return ids
}

// TestWarmPool checks a create that matches a shape asked for before gets
// the environment started ahead for it, with its own variables, command,
// hostname and log; that the pool's environments are not listed as the
// runtime's; and that Close leaves nothing of them.
func TestWarmPool(t *testing.T) {
	rt := newRuntime(t, "runc")
	first := testSpec(t, "", sandbox.ClassRunc)
	if id := rt.Claim(first); id != "" {
		t.Fatalf("claim from an empty pool: %q", id)
	}
	waitFor(t, func() bool { return len(warmIDs(rt)) == 1 })
	warm := warmIDs(rt)[0]

	other := testSpec(t, "", sandbox.ClassRunc)
	other.MemoryBytes *= 2
	if id := rt.Claim(other); id != "" {
		t.Fatalf("a spec of another shape claimed %q", id)
	}

	spec := testSpec(t, "", sandbox.ClassRunc)
	spec.Env.Name = "Mine, please" // runc's hostname is set at hand-over
	spec.Env.Env = map[string]string{"MY_VAR": "mine"}
	spec.Env.Command = []string{"sh", "-c", "echo from-command; echo ran > /tmp/ran"}
	spec.LogPath = filepath.Join(t.TempDir(), "env.jsonl")
	id := rt.Claim(spec)
	if id != warm {
		t.Fatalf("claim: %q, want the warm environment %q", id, warm)
	}
	spec.ID, spec.Env.ID = id, id
	create(t, rt, spec)
	res := sh(t, rt, id, "echo $MY_VAR; hostname")
	if want := "mine\nmine-please\n"; res.Stdout != want {
		t.Errorf("in the handed-over environment: %q (stderr %q), want %q", res.Stdout, res.Stderr, want)
	}
	// The command runs beside the execs, so its marks come when they come.
	waitFor(t, func() bool {
		b, _ := os.ReadFile(spec.LogPath)
		return strings.Contains(string(b), "from-command")
	})
	waitFor(t, func() bool { return sh(t, rt, id, "cat /tmp/ran").Stdout == "ran\n" })

	// The pool refills both shapes; its environments are not the
	// runtime's to list, but they are running.
	waitFor(t, func() bool { return len(warmIDs(rt)) == 2 })
	pooled := warmIDs(rt)
	ids, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, id) || slices.ContainsFunc(pooled, func(w string) bool { return slices.Contains(ids, w) }) {
		t.Errorf("list %v: want %s and none of the pool's %v", ids, id, pooled)
	}
	running, err := rt.containers(context.Background(), sandbox.ClassRunc)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range pooled {
		if !slices.Contains(running, w) {
			t.Errorf("warm environment %s is not running (runc lists %v)", w, running)
		}
	}

	rt.Close()
	for _, w := range pooled {
		assertGone(t, rt, w)
	}
}

// TestWarmPoolGVisor checks the pool under gVisor, where the hostname is
// part of the shape: the sandbox kernel owns it.
func TestWarmPoolGVisor(t *testing.T) {
	rt := newRuntime(t, "runsc")
	rt.Claim(testSpec(t, "", sandbox.ClassGVisor))
	waitFor(t, func() bool { return len(warmIDs(rt)) == 1 })
	renamed := testSpec(t, "", sandbox.ClassGVisor)
	renamed.Env.Name = "another name"
	if id := rt.Claim(renamed); id != "" {
		t.Fatalf("a gVisor spec with another hostname claimed %q", id)
	}
	spec := testSpec(t, "", sandbox.ClassGVisor)
	spec.Env.Env = map[string]string{"MY_VAR": "mine"}
	id := rt.Claim(spec)
	if id == "" {
		t.Fatal("no warm gVisor environment")
	}
	spec.ID, spec.Env.ID = id, id
	create(t, rt, spec)
	if res := sh(t, rt, id, "echo $MY_VAR; hostname"); res.Stdout != "mine\ntest\n" {
		t.Errorf("in the handed-over environment: %q (stderr %q)", res.Stdout, res.Stderr)
	}
}
