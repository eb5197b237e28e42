package imagetest_test

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/paddockhq/paddock/internal/image"
	"github.com/paddockhq/paddock/internal/image/imagetest"
)

// TestPythonImage builds (or loads) the python image, serves it as
// python:3.11-slim from a registry and runs python and pip from it.
func TestPythonImage(t *testing.T) {
	if os.Getenv("PADDOCK_TEST_BUILD") != "1" {
		t.Skip("set PADDOCK_TEST_BUILD=1 to build the python test image")
	}
	img := imagetest.PythonImage(t)
	if imagetest.PythonImage(t) != img {
		t.Error("second call built or loaded the image again")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cf.Config.Env, func(e string) bool {
		return strings.HasPrefix(e, "PATH=") && strings.Contains(e, "/usr/local/bin")
	}) {
		t.Errorf("Env %q lacks /usr/local/bin in PATH", cf.Config.Env)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/library/python:3.11-slim")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	s, err := image.Open(image.Options{
		Dir:     filepath.Join(t.TempDir(), "images"),
		Mirrors: map[string]string{"docker.io": srv.URL},
		Auth:    authn.NewMultiKeychain(),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Ensure(context.Background(), "python:3.11-slim")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"/usr/local/bin/python", "-c", "import ssl, venv; print('ok')"},
		{"/usr/local/bin/pip", "--version"},
		{"/bin/ls", "/usr/bin/ps", "/usr/bin/pkill"}, // procps needs /proc to run
	} {
		out, err := exec.Command("chroot", append([]string{got.RootFS}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", args[0], err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(got.RootFS, "usr/lib/python3.11/EXTERNALLY-MANAGED")); err == nil {
		t.Error("pip would refuse to install: EXTERNALLY-MANAGED is present")
	}
}
