package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

// TestOOMCounter reads a real cgroup's OOM count through the kept
// descriptor, across the cgroup being removed and made again (a restore
// does that), and checks a closed counter opens nothing. That the count
// follows real OOM kills through the same descriptor is TestRunc's "oom".
func TestOOMCounter(t *testing.T) {
	sandboxtest.RequireRoot(t)
	cg := fmt.Sprintf("/paddock-test-oom-%d", os.Getpid())
	dir := filepath.Dir(oomFile(cg))
	mkdir := func() {
		t.Helper()
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir()
	t.Cleanup(func() { os.Remove(dir) })

	c := newOOMCounter(cg)
	for i := range 3 { // the first opens; the next read again at offset 0
		if n, err := c.read(); err != nil || n != 0 {
			t.Fatalf("read %d: %d, %v; want 0", i, n, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if n, err := c.read(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed cgroup: %d, %v; want not found", n, err)
	}
	mkdir()
	if n, err := c.read(); err != nil || n != 0 {
		t.Fatalf("cgroup made again: %d, %v; want 0", n, err)
	}
	c.close()
	if _, err := c.read(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("closed counter: %v; want %v", err, fs.ErrClosed)
	}
	if c.fd != -1 {
		t.Fatalf("closed counter keeps descriptor %d", c.fd)
	}
}

// BenchmarkOOMCount compares the two ways of reading a cgroup's OOM kill
// count that Exec has had: by path (open, read, read, close) and through
// the descriptor an oomCounter keeps (one pread).
func BenchmarkOOMCount(b *testing.B) {
	sandboxtest.RequireRoot(b)
	cg := fmt.Sprintf("/paddock-bench-oom-%d", os.Getpid())
	dir := filepath.Dir(oomFile(cg))
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(dir) })
	b.Run("path", func(b *testing.B) {
		for b.Loop() {
			if _, err := readOOMKills(cg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept", func(b *testing.B) {
		c := newOOMCounter(cg)
		defer c.close()
		for b.Loop() {
			if _, err := c.read(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
