package sandboxtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// CacheDir holds the test rootfs between runs.
const CacheDir = "/var/cache/paddock-test"

// RequireRoot skips the test unless it runs as root, and unless each of
// the named binaries is installed.
func RequireRoot(t testing.TB, binaries ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s", b)
		}
	}
}

// PythonImage returns a Debian bookworm image with python3, unpacked with
// every owner shifted by shift (container root is host uid shift, as the
// image store does). The tarball and the tree are cached under CacheDir;
// a flock serializes test processes building them.
func PythonImage(t testing.TB, shift int) *paddock.Image {
	t.Helper()
	RequireRoot(t)
	root, err := pythonRootFS(shift)
	if err != nil {
		t.Fatalf("python rootfs: %v", err)
	}
	return &paddock.Image{
		Name:      "python:3.11-slim",
		Digest:    "sha256:test",
		Source:    "build",
		CreatedAt: time.Now().UTC(),
		RootFS:    root,
		Config: paddock.ImageConfig{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"},
			Cmd: []string{"python3"},
		},
	}
}

func pythonRootFS(shift int) (string, error) {
	if err := os.MkdirAll(CacheDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(CacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	tree := filepath.Join(CacheDir, fmt.Sprintf("rootfs-python3-%d", shift))
	if _, err := os.Stat(filepath.Join(tree, ".paddock-complete")); err == nil {
		return filepath.Join(tree, "root"), nil
	}
	tarball := filepath.Join(CacheDir, "bookworm-python3.tar")
	if fi, err := os.Stat(tarball); err != nil || !fi.Mode().IsRegular() {
		// A directory here is what an mmdebstrap that guessed the format
		// from a name not ending in .tar left; the format is now explicit.
		os.RemoveAll(tarball)
		tmp := filepath.Join(CacheDir, "bookworm-python3.partial.tar")
		os.RemoveAll(tmp)
		cmd := exec.Command("mmdebstrap", "--variant=apt", "--format=tar", "--include=python3", "--mode=root", "bookworm", tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("mmdebstrap: %v: %s", err, out)
		}
		if err := os.Rename(tmp, tarball); err != nil {
			return "", err
		}
	}
	os.RemoveAll(tree)
	root := filepath.Join(tree, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", root, "--numeric-owner").CombinedOutput(); err != nil {
		return "", fmt.Errorf("untar: %v: %s", err, out)
	}
	if err := shiftTree(root, shift); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tree, ".paddock-complete"), nil, 0o644); err != nil {
		return "", err
	}
	return root, nil
}

// shiftTree adds shift to every owner in the tree. chown clears setuid
// bits, so modes are restored after.
func shiftTree(root string, shift int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		if int(st.Uid) >= shift {
			return nil
		}
		if err := os.Lchown(p, int(st.Uid)+shift, int(st.Gid)+shift); err != nil {
			return err
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			if err := syscall.Chmod(p, st.Mode&0o7777); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}
