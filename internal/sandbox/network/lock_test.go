package network

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// The host lock is exclusive, and its file goes with its release.
func TestHostLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "net.lock")
	l, err := lockPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockPath(path); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("second lock = %v, want EWOULDBLOCK", err)
	}
	l.release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock file after release: %v", err)
	}
	l, err = lockPath(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.release()
}

// A locker that opened the file before a release removed it, and flocks
// it after another took the lock on the new file, does not hold the lock.
func TestHostLockReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "net.lock")
	first, err := lockPath(path)
	if err != nil {
		t.Fatal(err)
	}
	var third *hostLock
	beforeFlock = func() {
		beforeFlock = nil
		first.release()
		if third, err = lockPath(path); err != nil {
			t.Errorf("third locker: %v", err)
		}
	}
	defer func() { beforeFlock = nil }()
	if l, err := lockPath(path); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("lock on a removed file = %v, %v; want EWOULDBLOCK, the third locker holding it", l, err)
	}
	third.release()
}

// Racing lockers never hold the lock together, although each release
// removes the file another may have opened already.
func TestHostLockRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "net.lock")
	var holders, taken atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				l, err := lockPath(path)
				if errors.Is(err, unix.EWOULDBLOCK) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d holders of the lock", n)
				}
				taken.Add(1)
				holders.Add(-1)
				l.release()
			}
		})
	}
	wg.Wait()
	if taken.Load() == 0 {
		t.Fatal("no locker ever took the lock")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock file after the last release: %v", err)
	}
}
