// Package imagetest provides real OCI images to tests of other packages.
package imagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock/internal/image"
)

// DefaultCacheDir is where built test images are kept unless
// $PADDOCK_TEST_CACHE names another directory.
const DefaultCacheDir = "/var/cache/paddock-test"

// pythonBuild is the recipe of PythonImage; changing it changes the cache
// key, so stale caches are never used.
var pythonBuild = image.BuildOptions{
	Suite:    "bookworm",
	Variant:  "minbase",
	Packages: []string{"python3", "python3-pip", "python3-venv", "procps", "ca-certificates", "espeak-ng", "lame"},
	CustomizeHooks: []string{
		`ln -sf /usr/bin/python3 "$1/usr/local/bin/python"`,
		`ln -sf /usr/bin/pip3 "$1/usr/local/bin/pip"`,
		// Let pip install into the system like the python:3.x images do.
		`rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED`,
	},
}

var (
	mu     sync.Mutex
	python v1.Image // built or loaded once per process
)

// PythonImage returns an image of Debian bookworm with python3 (also as
// /usr/local/bin/python), pip, procps, coreutils, and espeak-ng and lame
// (for text to speech), whose PATH includes
// /usr/local/bin. It is built once with mmdebstrap and cached as an OCI
// layout under $PADDOCK_TEST_CACHE (default /var/cache/paddock-test),
// where later runs and other processes find it; concurrent builds are
// serialised with flock. When there is no cached image and building is
// impossible (not root, or no mmdebstrap), the test is skipped.
func PythonImage(t testing.TB) v1.Image {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if python != nil {
		return python
	}
	dir := os.Getenv("PADDOCK_TEST_CACHE")
	if dir == "" {
		dir = DefaultCacheDir
	}
	key, err := json.Marshal(pythonBuild)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(key)
	cached := filepath.Join(dir, "python-bookworm-"+hex.EncodeToString(sum[:6]))

	if img, err := loadLayout(cached); err == nil {
		python = img
		return img
	}
	if os.Geteuid() != 0 {
		t.Skip("imagetest: building the python image needs root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("imagetest: building the python image needs mmdebstrap")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if img, err := loadLayout(cached); err == nil {
		python = img
		return img
	}
	start := time.Now()
	img, err := build(dir, cached)
	if err != nil {
		t.Fatalf("imagetest: build python image: %v", err)
	}
	t.Logf("imagetest: built %s in %s", cached, time.Since(start).Round(time.Second))
	python = img
	return img
}

// build builds the python image in a scratch store and writes it as an
// OCI layout to cached, atomically.
func build(dir, cached string) (v1.Image, error) {
	scratch, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	s, err := image.Open(image.Options{
		Dir:    filepath.Join(scratch, "store"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := s.Build(ctx, "paddock-test/python:bookworm", pythonBuild, nil); err != nil {
		return nil, err
	}
	img, err := s.V1Image(ctx, "paddock-test/python:bookworm")
	if err != nil {
		return nil, err
	}
	out := filepath.Join(scratch, "layout")
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return nil, err
	}
	if err := p.AppendImage(img); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(cached); err != nil {
		return nil, err
	}
	if err := os.Rename(out, cached); err != nil {
		return nil, err
	}
	return loadLayout(cached)
}

// loadLayout returns the one image of the OCI layout at dir.
func loadLayout(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s: want 1 image, found %d", dir, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, err
	}
	// Check the layers are all there: a cache damaged by hand is rebuilt.
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", d.Algorithm, d.Hex)); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
