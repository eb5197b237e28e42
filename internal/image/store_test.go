package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/paddockhq/paddock"
)

const testShift = 100000

func newStore(t *testing.T, mirrors map[string]string) *Store {
	t.Helper()
	s, err := Open(Options{
		Dir:      filepath.Join(t.TempDir(), "images"),
		UIDShift: testShift,
		Mirrors:  mirrors,
		Auth:     authn.NewMultiKeychain(), // anonymous: ignore the host's docker config
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testImage returns a two-layer image with a config like python:3.11-slim's.
func testImage(t *testing.T, marker string) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image,
		layer(t, dir("usr/"), dir("usr/bin/"), file("usr/bin/python3", "#!python "+marker), symlink("usr/bin/python", "python3")),
		layer(t, dir("app/"), file("app/main.py", "print('hi')"), file("usr/bin/.wh.python", "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{
		Env:        []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"},
		Cmd:        []string{"python3"},
		WorkingDir: "/app",
		User:       "1000",
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testRegistry is an in-process registry that counts manifest GETs and
// can hold them until released.
type testRegistry struct {
	srv       *httptest.Server
	host      string
	manifests atomic.Int64
	gate      atomic.Pointer[chan struct{}] // if set, manifest GETs wait for it to close
}

// newRegistry starts a registry; a non-zero status makes it refuse every
// request with that status.
func newRegistry(t *testing.T, status int) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if status != 0 {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"denied"}]}`, status)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
			r.manifests.Add(1)
			if g := r.gate.Load(); g != nil {
				<-*g
			}
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.ParseReference(r.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

var wantTree = map[string]string{
	".":               "dir 0755 100000:100000",
	"app":             "dir 0755 100000:100000",
	"app/main.py":     `file 0644 100000:100000 links=1 "print('hi')"`,
	"usr":             "dir 0755 100000:100000",
	"usr/bin":         "dir 0755 100000:100000",
	"usr/bin/python3": `file 0644 100000:100000 links=1 "#!python one"`,
}

var wantConfig = paddock.ImageConfig{
	Env:        []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"},
	Cmd:        []string{"python3"},
	WorkingDir: "/app",
	User:       "1000",
}

func TestPullThroughMirror(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	reg := newRegistry(t, 0)
	img := testImage(t, "one")
	reg.push(t, "library/python:3.11-slim", img)
	s := newStore(t, map[string]string{"docker.io": reg.srv.URL})

	var phases []string
	got, err := s.Pull(ctx, "python:3.11-slim", func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &paddock.Image{
		Name:   "python:3.11-slim",
		Digest: digestOf(t, img),
		Size:   int64(len("#!python one") + len("print('hi')")),
		Source: "pull",
		RootFS: filepath.Join(s.dir, "rootfs", hexOf(digestOf(t, img))),
		Config: wantConfig,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(paddock.Image{}, "CreatedAt")); diff != "" {
		t.Errorf("Pull (-want +got):\n%s", diff)
	}
	if time.Since(got.CreatedAt) > time.Minute {
		t.Errorf("CreatedAt = %v", got.CreatedAt)
	}
	if diff := cmp.Diff([]string{"resolve", "download", "unpack", "done"}, phases); diff != "" {
		t.Errorf("progress phases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTree, describe(t, got.RootFS)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	// Every spelling finds it.
	for _, ref := range []string{"python:3.11-slim", "docker.io/library/python:3.11-slim", "index.docker.io/library/python:3.11-slim", "library/python:3.11-slim"} {
		found, err := s.Image(ctx, ref)
		if err != nil {
			t.Fatalf("Image(%q): %v", ref, err)
		}
		if diff := cmp.Diff(got, found); diff != "" {
			t.Errorf("Image(%q) (-pull +image):\n%s", ref, diff)
		}
	}
	list, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*paddock.Image{got}, list); diff != "" {
		t.Errorf("Images (-want +got):\n%s", diff)
	}

	// The stored image is the pulled one, byte for byte, and pushes.
	v1img, err := s.V1Image(ctx, "python:3.11-slim")
	if err != nil {
		t.Fatal(err)
	}
	if d := digestOf(t, v1img); d != got.Digest {
		t.Errorf("V1Image digest = %s, want %s", d, got.Digest)
	}
	reg.push(t, "copy/python:again", v1img)

	// A second pull of unchanged content changes nothing.
	again, err := s.Pull(ctx, "docker.io/library/python:3.11-slim", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("second Pull (-first +second):\n%s", diff)
	}
}

func TestPullPicksPlatform(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	reg := newRegistry(t, 0)
	mine, other := testImage(t, "mine"), testImage(t, "other")
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
		mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	ref, err := name.ParseReference(reg.host + "/team/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, nil)
	got, err := s.Pull(ctx, reg.host+"/team/multi:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digestOf(t, mine) {
		t.Errorf("pulled %s, want the %s image %s", got.Digest, runtime.GOARCH, digestOf(t, mine))
	}
	if got.Name != reg.host+"/team/multi:1" {
		t.Errorf("Name = %q", got.Name)
	}
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, 0)
	reg.push(t, "library/python:3.11-slim", testImage(t, "one"))
	denied := newRegistry(t, http.StatusUnauthorized)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name     string
		mirror   string
		ref      string
		wantCode string
		wantMsg  string
	}{
		{"bad ref", reg.srv.URL, "Python:3", paddock.EInvalid, `invalid image reference "Python:3"`},
		{"empty ref", reg.srv.URL, "", paddock.EInvalid, "image reference is empty"},
		{"url ref", reg.srv.URL, "http://example.com/x", paddock.EInvalid, `invalid image reference "http://example.com/x"`},
		{"unknown tag", reg.srv.URL, "python:2.7", paddock.ENotFound, "pull python:2.7: manifest unknown"},
		{"unknown repo", reg.srv.URL, "nosuch/thing", paddock.ENotFound, "pull nosuch/thing:latest: manifest unknown"},
		{"denied", denied.srv.URL, "python:3.11-slim", paddock.ENotFound, "pull python:3.11-slim: repository does not exist or requires authorization"},
		{"unreachable", closed.URL, "python:3.11-slim", paddock.EUnavailable, "pull python:3.11-slim: registry " + strings.TrimPrefix(closed.URL, "http://") + " unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, map[string]string{"docker.io": tt.mirror})
			_, err := s.Pull(ctx, tt.ref, nil)
			if code := paddock.ErrorCode(err); code != tt.wantCode {
				t.Errorf("code = %q, want %q (err: %v)", code, tt.wantCode, err)
			}
			if msg := paddock.ErrorMessage(err); msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
			assertEmpty(t, s)
		})
	}
}

// assertEmpty checks that a store holds nothing: no image, blob, tree or
// temporary file.
func assertEmpty(t *testing.T, s *Store) {
	t.Helper()
	for _, d := range []string{"blobs/sha256", "rootfs", "tmp"} {
		es, err := os.ReadDir(filepath.Join(s.dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 0 {
			t.Errorf("%s holds %d entries, want none", d, len(es))
		}
	}
	imgs, err := s.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 0 {
		t.Errorf("Images = %d, want none", len(imgs))
	}
}

func TestLookupErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	if _, err := s.Image(ctx, "python:3.11-slim"); paddock.ErrorCode(err) != paddock.ENotFound || paddock.ErrorMessage(err) != `image "python:3.11-slim" not found` {
		t.Errorf("Image of absent: %v", err)
	}
	if err := s.Remove(ctx, "python:3.11-slim"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("Remove of absent: %v", err)
	}
	if _, err := s.V1Image(ctx, "python:3.11-slim"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("V1Image of absent: %v", err)
	}
	for _, ref := range []string{"", "UPPER", "a b", "x:y:z", "python@sha256:short"} {
		if _, err := s.Image(ctx, ref); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("Image(%q): %v, want invalid", ref, err)
		}
		if err := s.Remove(ctx, ref); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("Remove(%q): %v, want invalid", ref, err)
		}
		if _, err := s.Ensure(ctx, ref); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("Ensure(%q): %v, want invalid", ref, err)
		}
	}
	if _, err := Open(Options{Dir: t.TempDir(), Mirrors: map[string]string{"docker.io": "ftp://x"}}); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("Open with bad mirror: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in, full, familiar string
	}{
		{"python:3.11-slim", "docker.io/library/python:3.11-slim", "python:3.11-slim"},
		{"python", "docker.io/library/python:latest", "python:latest"},
		{"docker.io/library/python:3.11-slim", "docker.io/library/python:3.11-slim", "python:3.11-slim"},
		{"index.docker.io/library/python", "docker.io/library/python:latest", "python:latest"},
		{"user/app:v1", "docker.io/user/app:v1", "user/app:v1"},
		{"ghcr.io/org/app:1.0", "ghcr.io/org/app:1.0", "ghcr.io/org/app:1.0"},
		{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"},
		{"python:Tag_Upper", "docker.io/library/python:Tag_Upper", "python:Tag_Upper"},
		{
			"python@sha256:" + strings.Repeat("a", 64),
			"docker.io/library/python@sha256:" + strings.Repeat("a", 64),
			"python@sha256:" + strings.Repeat("a", 64),
		},
	}
	for _, tt := range tests {
		r, err := parseRef(tt.in)
		if err != nil {
			t.Errorf("parseRef(%q): %v", tt.in, err)
			continue
		}
		if r.full != tt.full || r.familiar != tt.familiar {
			t.Errorf("parseRef(%q) = %q, %q; want %q, %q", tt.in, r.full, r.familiar, tt.full, tt.familiar)
		}
	}
}

func TestEnsurePullsOnce(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	reg := newRegistry(t, 0)
	img := testImage(t, "one")
	reg.push(t, "library/python:3.11-slim", img)
	reg.manifests.Store(0)
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	s := newStore(t, map[string]string{"docker.io": reg.srv.URL})

	const n = 8
	var wg sync.WaitGroup
	results := make([]*paddock.Image, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Ensure(ctx, "python:3.11-slim")
		})
	}
	// Hold the manifest until every caller has joined the one pull.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.flightMu.Lock()
		f := s.flights["docker.io/library/python:3.11-slim"]
		joined := f != nil && f.waiters == n
		s.flightMu.Unlock()
		if joined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ensure callers never joined one pull")
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Ensure %d: %v", i, errs[i])
		}
		if results[i].Digest != digestOf(t, img) {
			t.Errorf("Ensure %d: digest %s", i, results[i].Digest)
		}
	}
	if got := reg.manifests.Load(); got != 1 {
		t.Errorf("manifest GETs = %d, want 1", got)
	}
	// Present now: no registry traffic at all.
	if _, err := s.Ensure(ctx, "docker.io/library/python:3.11-slim"); err != nil {
		t.Fatal(err)
	}
	if got := reg.manifests.Load(); got != 1 {
		t.Errorf("manifest GETs after a present Ensure = %d, want 1", got)
	}
}

func TestEnsureCancel(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, 0)
	reg.push(t, "library/python:3.11-slim", testImage(t, "one"))
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	s := newStore(t, map[string]string{"docker.io": reg.srv.URL})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Ensure(ctx, "python:3.11-slim")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for reg.manifests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no manifest request")
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Ensure after cancel: %v", err)
	}
	close(gate)
	// A later Ensure starts a fresh pull rather than joining the
	// cancelled one.
	if _, err := s.Ensure(context.Background(), "python:3.11-slim"); err != nil {
		t.Fatal(err)
	}
}

// dockerSave writes img as `docker save` would, tagged tag ("" for none).
func dockerSave(t *testing.T, img v1.Image, tag string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var ref name.Reference
	if tag != "" {
		var err error
		if ref, err = name.NewTag(tag); err != nil {
			t.Fatal(err)
		}
		if err := tarball.Write(ref, img, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err = name.NewDigest("example.com/untagged@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.Write(ref, img, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportDockerSave(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	img := testImage(t, "one")
	path := filepath.Join(t.TempDir(), "saved.tar")
	tag, err := name.NewTag("example.com/team/tool:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, nil)

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := s.Import(ctx, "", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "example.com/team/tool:1.0" || got.Source != "import" {
		t.Errorf("Import = %+v", got)
	}
	if diff := cmp.Diff(wantConfig, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTree, describe(t, got.RootFS)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	// Gzip-compressed, under another name: same content, same tree.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(dockerSave(t, img, "example.com/team/tool:1.0"))
	zw.Close()
	renamed, err := s.Import(ctx, "tool:dev", &gz, nil)
	if err != nil {
		t.Fatal(err)
	}
	if renamed.Name != "tool:dev" || renamed.Digest != got.Digest || renamed.RootFS != got.RootFS {
		t.Errorf("renamed import = %+v, want the content of %+v", renamed, got)
	}
}

func TestImportOCILayout(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	img := testImage(t, "one")
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/oci/img:2"})); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, nil)
	got, err := s.Import(ctx, "", bytes.NewReader(tarDir(t, dir)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "example.com/oci/img:2" || got.Digest != digestOf(t, img) {
		t.Errorf("Import = %+v, want example.com/oci/img:2 %s", got, digestOf(t, img))
	}
	if diff := cmp.Diff(wantTree, describe(t, got.RootFS)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

// tarDir returns the files under dir as a tar stream.
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, "one")
	tests := []struct {
		name    string
		as      string
		archive []byte
		wantMsg string
	}{
		{"garbage", "x:1", []byte("this is not a tar archive at all, not even close............"), "import: not a tar archive"},
		{"empty tar", "x:1", layerTar(t), "import: archive has neither manifest.json (docker save) nor index.json (OCI layout)"},
		{"no name", "", dockerSave(t, img, ""), "import: the archive names no image; give a name"},
		{"bad name", "Bad Name", dockerSave(t, img, "x:1"), `invalid image reference "Bad Name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, nil)
			_, err := s.Import(ctx, tt.as, bytes.NewReader(tt.archive), nil)
			if paddock.ErrorCode(err) != paddock.EInvalid || paddock.ErrorMessage(err) != tt.wantMsg {
				t.Errorf("err = %v, want invalid %q", err, tt.wantMsg)
			}
			assertEmpty(t, s)
		})
	}
}

func TestRemove(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := newStore(t, nil)
	one, two := testImage(t, "one"), testImage(t, "two")
	a, err := s.Import(ctx, "a:1", bytes.NewReader(dockerSave(t, one, "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Import(ctx, "b:1", bytes.NewReader(dockerSave(t, one, "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Import(ctx, "c:1", bytes.NewReader(dockerSave(t, two, "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.RootFS != b.RootFS || a.RootFS == c.RootFS {
		t.Fatalf("trees: a %s, b %s, c %s", a.RootFS, b.RootFS, c.RootFS)
	}

	// Shared content stays while another name refers to it.
	if err := s.Remove(ctx, "docker.io/library/a:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(ctx, "a:1"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("Image after Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.RootFS, "usr/bin/python3")); err != nil {
		t.Errorf("shared tree removed: %v", err)
	}
	if _, err := s.V1Image(ctx, "b:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a:1"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("second Remove: %v", err)
	}

	// Dropping b leaves exactly c's blobs, the layer c shares with b included.
	if err := s.Remove(ctx, "b:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.RootFS); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree of removed content: %v", err)
	}
	var want []string
	for _, h := range blobsOf(s, c.Digest) {
		want = append(want, h.Hex)
	}
	if diff := cmp.Diff(want, blobNames(t, s), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("blobs (-want +got):\n%s", diff)
	}
	if err := s.Remove(ctx, "c:1"); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, s)
}

func blobNames(t *testing.T, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestRetagReplacesContent(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s := newStore(t, nil)
	old, err := s.Import(ctx, "app:latest", bytes.NewReader(dockerSave(t, testImage(t, "one"), "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Import(ctx, "app:latest", bytes.NewReader(dockerSave(t, testImage(t, "two"), "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Digest == old.Digest {
		t.Fatal("same digest for different content")
	}
	if _, err := os.Stat(old.RootFS); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old tree still there: %v", err)
	}
	if got := len(blobNames(t, s)); got != len(blobsOf(s, cur.Digest)) {
		t.Errorf("%d blobs, want %d (old blobs collected)", got, len(blobsOf(s, cur.Digest)))
	}
}

// TestInUseKeepsImages checks that an image environments use (InUse, by
// any spelling of its name) is neither replaced nor removed: both are
// EConflict naming them and change nothing. Other names of the same
// content, unused, may go; once unused, the image may change.
func TestInUseKeepsImages(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	var mu sync.Mutex
	users := map[string][]string{} // image as environments name it -> their ids
	s, err := Open(Options{
		Dir: filepath.Join(t.TempDir(), "images"), UIDShift: testShift, Auth: authn.NewMultiKeychain(), Logger: slog.New(slog.DiscardHandler),
		InUse: func(ctx context.Context) (map[string][]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(users), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	use := func(ref string, ids ...string) {
		mu.Lock()
		defer mu.Unlock()
		if ids == nil {
			delete(users, ref)
		} else {
			users[ref] = ids
		}
	}
	old, err := s.Import(ctx, "app:1", bytes.NewReader(dockerSave(t, testImage(t, "one"), "x:1")), nil)
	if err != nil {
		t.Fatal(err)
	}
	use("app:1", "env-b")
	use("docker.io/library/app:1", "env-a")
	use("other:1", "env-c")
	blobs := blobNames(t, s)

	// Replacing it: refused, and the store is as it was.
	_, err = s.Import(ctx, "app:1", bytes.NewReader(dockerSave(t, testImage(t, "two"), "x:1")), nil)
	if paddock.ErrorCode(err) != paddock.EConflict || !strings.Contains(paddock.ErrorMessage(err), "image app:1 cannot be replaced while 2 environments use it (env-a, env-b)") {
		t.Fatalf("replace in use: %v", err)
	}
	if cur, err := s.Image(ctx, "app:1"); err != nil || cur.Digest != old.Digest {
		t.Errorf("after a refused replace: %+v %v", cur, err)
	}
	if _, err := os.Stat(filepath.Join(old.RootFS, "usr/bin/python3")); err != nil {
		t.Errorf("the tree in use: %v", err)
	}
	if diff := cmp.Diff(blobs, blobNames(t, s)); diff != "" {
		t.Errorf("blobs after a refused replace (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.dir, "rootfs")); len(entries) != 1 {
		t.Errorf("%d trees, want the one in use", len(entries))
	}
	// The same content again is no change.
	if _, err := s.Import(ctx, "app:1", bytes.NewReader(dockerSave(t, testImage(t, "one"), "x:1")), nil); err != nil {
		t.Errorf("import of the same content: %v", err)
	}

	// Removing it: refused too, even while another name keeps the content.
	if _, err := s.Import(ctx, "keep:1", bytes.NewReader(dockerSave(t, testImage(t, "one"), "x:1")), nil); err != nil {
		t.Fatal(err)
	}
	err = s.Remove(ctx, "docker.io/library/app:1")
	if paddock.ErrorCode(err) != paddock.EConflict || !strings.Contains(paddock.ErrorMessage(err), "image app:1 cannot be removed while 2 environments use it") {
		t.Fatalf("remove in use: %v", err)
	}
	// The other name nobody uses may go; the tree stays for app:1.
	if err := s.Remove(ctx, "keep:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(old.RootFS, "usr/bin/python3")); err != nil {
		t.Errorf("the tree in use: %v", err)
	}

	// Once nobody uses it, it may change, and the old tree goes.
	use("app:1")
	use("docker.io/library/app:1")
	cur, err := s.Import(ctx, "app:1", bytes.NewReader(dockerSave(t, testImage(t, "two"), "x:1")), nil)
	if err != nil {
		t.Fatalf("replace unused: %v", err)
	}
	if _, err := os.Stat(old.RootFS); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old tree after the replace: %v", err)
	}
	if err := s.Remove(ctx, "app:1"); err != nil || cur.Digest == old.Digest {
		t.Fatal(err)
	}
	assertEmpty(t, s)
}

func TestOpenRecovers(t *testing.T) {
	s := newStore(t, nil)
	stale := filepath.Join(s.dir, "tmp", "2147483646.rootfs.0123")
	orphan := filepath.Join(s.dir, "rootfs", strings.Repeat("ab", 32))
	for _, d := range []string{stale, orphan} {
		if err := os.MkdirAll(filepath.Join(d, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(Options{Dir: s.dir}); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, s)
}

// TestSharedStore runs two Stores (as the CLI and the server would) on one
// directory at once.
func TestSharedStore(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s1 := newStore(t, nil)
	s2, err := Open(Options{Dir: s1.dir, UIDShift: testShift, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	archive := dockerSave(t, testImage(t, "one"), "x:1")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			_, errs[i] = s.Import(ctx, "shared:"+string(rune('a'+i)), bytes.NewReader(archive), nil)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	imgs, err := s2.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != len(errs) {
		t.Fatalf("%d images, want %d", len(imgs), len(errs))
	}
	trees, _ := os.ReadDir(filepath.Join(s1.dir, "rootfs"))
	tmps, _ := os.ReadDir(filepath.Join(s1.dir, "tmp"))
	if len(trees) != 1 || len(tmps) != 0 {
		t.Errorf("%d trees, %d temporary entries; want 1, 0", len(trees), len(tmps))
	}
}

func TestMirrorRef(t *testing.T) {
	tests := []struct {
		ref, mirror, want string
	}{
		{"python:3.11-slim", "http://127.0.0.1:5000", "127.0.0.1:5000/library/python:3.11-slim"},
		{"user/app", "https://mirror.example.com/dockerhub/", "mirror.example.com/dockerhub/user/app:latest"},
		{"python@sha256:" + strings.Repeat("b", 64), "https://m.example.com", "m.example.com/library/python@sha256:" + strings.Repeat("b", 64)},
	}
	for _, tt := range tests {
		r, err := parseRef(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := mirrorRef(r, tt.mirror)
		if err != nil {
			t.Fatalf("mirrorRef(%q, %q): %v", tt.ref, tt.mirror, err)
		}
		if got.Name() != tt.want {
			t.Errorf("mirrorRef(%q, %q) = %q, want %q", tt.ref, tt.mirror, got.Name(), tt.want)
		}
		wantScheme := "https"
		if strings.HasPrefix(tt.mirror, "http:") {
			wantScheme = "http"
		}
		if s := got.Context().Scheme(); s != wantScheme {
			t.Errorf("mirrorRef(%q, %q) scheme %s, want %s", tt.ref, tt.mirror, s, wantScheme)
		}
	}
}
