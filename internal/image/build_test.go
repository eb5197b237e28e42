package image

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
)

func TestBuildOptionsInvalid(t *testing.T) {
	s := newStore(t, nil)
	tests := []struct {
		name    string
		opts    BuildOptions
		wantMsg string
	}{
		{"package injection", BuildOptions{Packages: []string{"python3,--foo"}}, `build: invalid package name "python3,--foo"`},
		{"package option", BuildOptions{Packages: []string{"--help"}}, `build: invalid package name "--help"`},
		{"suite", BuildOptions{Suite: "../x"}, `build: invalid suite "../x"`},
		{"variant", BuildOptions{Variant: "fat"}, `build: invalid variant "fat"`},
		{"mirror", BuildOptions{Mirror: "file:///etc"}, `build: invalid mirror URL "file:///etc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Build(context.Background(), "x:1", tt.opts, nil)
			if paddock.ErrorCode(err) != paddock.EInvalid || paddock.ErrorMessage(err) != tt.wantMsg {
				t.Errorf("err = %v, want invalid %q", err, tt.wantMsg)
			}
		})
	}
	assertEmpty(t, s)
}

// TestBuild runs mmdebstrap for real: it needs root and the Debian mirror,
// and takes about a minute, so it runs only with PADDOCK_TEST_BUILD=1.
func TestBuild(t *testing.T) {
	if os.Getenv("PADDOCK_TEST_BUILD") != "1" {
		t.Skip("set PADDOCK_TEST_BUILD=1 to build an image with mmdebstrap")
	}
	requireRoot(t)
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed")
	}
	ctx := context.Background()
	s := newStore(t, nil)

	// A failed build leaves nothing behind (an unreachable mirror fails
	// fast).
	_, err := s.Build(ctx, "broken:1", BuildOptions{Mirror: "http://127.0.0.1:9/debian"}, nil)
	if paddock.ErrorCode(err) != paddock.EInvalid || !strings.HasPrefix(paddock.ErrorMessage(err), "build broken:1: mmdebstrap failed: E: ") {
		t.Errorf("failed build: %v", err)
	}
	assertEmpty(t, s)

	start := time.Now()
	var lines int
	phases := make(map[string]bool)
	img, err := s.Build(ctx, "paddock/python-test:1", BuildOptions{
		Packages:       []string{"python3"},
		CustomizeHooks: []string{`ln -s /usr/bin/python3 "$1/usr/local/bin/python"`},
	}, func(p Progress) {
		phases[p.Phase] = true
		if p.Phase == "build" {
			lines++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s (%d MB) in %s", img.Digest, img.Size>>20, time.Since(start).Round(time.Second))
	if lines == 0 || !phases["unpack"] || !phases["done"] {
		t.Errorf("progress: %d build lines, phases %v", lines, phases)
	}
	want := paddock.ImageConfig{Env: []string{DefaultPath}, Cmd: []string{"/bin/sh"}}
	if diff := cmp.Diff(want, img.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if img.Name != "paddock/python-test:1" || img.Source != "build" || img.Size < 10<<20 {
		t.Errorf("Build = %+v", img)
	}

	// Root inside is 100000 outside, setuid bits survive the shift.
	for _, p := range []string{".", "usr/bin/python3", "usr/bin/su", "usr/local/bin/python"} {
		fi, err := os.Lstat(filepath.Join(img.RootFS, p))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != testShift || st.Gid != testShift {
			t.Errorf("%s: owner %d:%d, want %d", p, st.Uid, st.Gid, testShift)
		}
		if p == "usr/bin/su" && fi.Mode()&fs.ModeSetuid == 0 {
			t.Errorf("%s: mode %v, want setuid", p, fi.Mode())
		}
	}
	out, err := exec.CommandContext(ctx, "chroot", img.RootFS, "/usr/local/bin/python", "-c", "print(6*7)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("python in the image: %q, %v", out, err)
	}

	// The built image is a normal image: it pushes and pulls back.
	v1img, err := s.V1Image(ctx, "paddock/python-test:1")
	if err != nil {
		t.Fatal(err)
	}
	if d := digestOf(t, v1img); d != img.Digest {
		t.Errorf("V1Image digest %s, want %s", d, img.Digest)
	}
	reg := newRegistry(t, 0)
	reg.push(t, "paddock/python-test:1", v1img)
	pulled, err := newStore(t, nil).Pull(ctx, reg.host+"/paddock/python-test:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Digest != img.Digest || pulled.Size != img.Size {
		t.Errorf("pulled %s (%d bytes), want %s (%d bytes)", pulled.Digest, pulled.Size, img.Digest, img.Size)
	}
}
