package oci

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

// waitReady polls until the pool holds n images of s.
func waitReady(t *testing.T, p *diskPool, s diskShape, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.ready[s])
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d images of %+v, want %d", got, s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDiskPool(t *testing.T) {
	sandboxtest.RequireRoot(t, "mkfs.ext4")
	dir := stateDir(t)
	pool := filepath.Join(dir, "disks")
	p, err := newDiskPool(pool, 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := diskShape{size: 64 << 20, uid: testShift, gid: testShift}
	// The first take of a shape misses and makes the pool fill it.
	if p.take(s, filepath.Join(dir, "a.img")) {
		t.Fatal("take from an empty pool succeeded")
	}
	waitReady(t, p, s, 2)
	img := filepath.Join(dir, "b.img")
	if !p.take(s, img) {
		t.Fatal("take from a full pool failed")
	}
	waitReady(t, p, s, 2) // refilled
	// The image is a complete file system of the shape, owned as asked.
	fi, err := os.Stat(img)
	if err != nil || fi.Size() != s.size {
		t.Fatalf("taken image: %v, size %d", err, fi.Size())
	}
	mnt := filepath.Join(dir, "mnt")
	if err := mountDisk(img, mnt); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := ownerOf(st); uid != testShift || gid != testShift {
		t.Errorf("root of the taken disk belongs to %d:%d, want %d:%d", uid, gid, testShift, testShift)
	}
	if err := unmountAll(mnt); err != nil {
		t.Fatal(err)
	}

	// A new pool on the same dir takes the images over and removes what
	// a crash left half made.
	p.close()
	os.WriteFile(filepath.Join(pool, "junk.img.tmp"), nil, 0o600)
	p2, err := newDiskPool(pool, 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.close()
	waitReady(t, p2, s, 2)
	if _, err := os.Stat(filepath.Join(pool, "junk.img.tmp")); !os.IsNotExist(err) {
		t.Errorf("leftover of a cut format kept: %v", err)
	}
	if !p2.take(s, filepath.Join(dir, "c.img")) {
		t.Fatal("take after restart failed")
	}

	// Only the last maxDiskShapes shapes keep images.
	for i := range maxDiskShapes {
		p2.take(diskShape{size: int64(i+2) << 24, uid: 0, gid: 0}, filepath.Join(dir, "x.img"))
		os.Remove(filepath.Join(dir, "x.img"))
	}
	p2.mu.Lock()
	_, kept := p2.ready[s]
	p2.mu.Unlock()
	if kept {
		t.Errorf("images of a shape no longer asked for are kept")
	}
	p2.close()
	for _, name := range mustReadDir(t, pool) {
		if shape, _, ok := parseDiskName(name); !ok || shape == s {
			t.Errorf("pool holds %s after its shape was dropped", name)
		}
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func ownerOf(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestCheckCgroup checks a pid is only taken for the container's when it
// is in the container's cgroup.
func TestCheckCgroup(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var own string
	for _, line := range lines(string(b)) {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 {
			own = parts[2]
		}
	}
	if err := checkCgroup(os.Getpid(), own); err != nil {
		t.Errorf("own cgroup %s: %v", own, err)
	}
	if err := checkCgroup(os.Getpid(), "/paddock/env-not-this-one"); err == nil {
		t.Error("a process outside the cgroup passed")
	}
	if err := checkCgroup(1<<30, "/paddock/x"); err == nil {
		t.Error("a missing process passed")
	}
}
