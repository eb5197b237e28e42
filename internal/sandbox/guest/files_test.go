package guest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := startGuest(t, Config{Dir: dir})
	ctx := context.Background()

	n, err := c.WriteFile(ctx, "sub/dir/a.txt", strings.NewReader("hello"), 0o640)
	if err != nil || n != 5 {
		t.Fatalf("write: %d %v", n, err)
	}
	rc, fi, err := c.ReadFile(ctx, filepath.Join(dir, "sub/dir/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "hello" {
		t.Fatalf("read: %q %v", b, err)
	}
	if fi.Name != "a.txt" || fi.Size != 5 || fi.Mode != "-rw-r-----" || fi.Perm != 0o640 || fi.Type != paddock.FileTypeFile || fi.ModTime.IsZero() {
		t.Fatalf("info: %+v", fi)
	}
	os.Symlink("dir/a.txt", filepath.Join(dir, "sub/link"))
	list, err := c.List(ctx, "sub")
	if err != nil || len(list) != 2 || list[0].Name != "dir" || list[0].Type != "dir" || list[0].Mode != "drwxr-xr-x" ||
		list[1].Type != "symlink" || list[1].LinkTarget != "dir/a.txt" || list[1].Mode[0] != 'l' {
		t.Fatalf("list: %+v %v", list, err)
	}

	for _, tt := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"read missing", func() error { _, _, err := c.ReadFile(ctx, "/nonexistent/x"); return err }(), paddock.ENotFound, "no such file: /nonexistent/x"},
		{"read dir", func() error { _, _, err := c.ReadFile(ctx, dir); return err }(), paddock.EInvalid, "is a directory"},
		{"list file", func() error { _, err := c.List(ctx, "sub/dir/a.txt"); return err }(), paddock.EInvalid, "not a directory"},
		{"write over dir", func() error { _, err := c.WriteFile(ctx, "sub", strings.NewReader("x"), 0); return err }(), paddock.EInvalid, "is a directory"},
		{"write under file", func() error {
			_, err := c.WriteFile(ctx, "sub/dir/a.txt/b", strings.NewReader("x"), 0)
			return err
		}(), paddock.EInvalid, "not a directory"},
		{"mkdir exists", c.Mkdir(ctx, "sub", false), paddock.EConflict, "exists"},
		{"remove non-empty", c.Remove(ctx, "sub", false), paddock.EInvalid, "not empty"},
		{"remove missing", c.Remove(ctx, "nope", true), paddock.ENotFound, "no such file"},
		{"nul", c.Mkdir(ctx, "a\x00b", true), paddock.EInvalid, "NUL"},
		{"write where no file can be made", func() error {
			_, err := c.WriteFile(ctx, "/proc/sys/kernel/paddock-test", strings.NewReader("x"), 0)
			return err
		}(), paddock.EForbidden, "cannot create files in /proc/sys/kernel"},
	} {
		if paddock.ErrorCode(tt.err) != tt.code || !strings.Contains(paddock.ErrorMessage(tt.err), tt.msg) {
			t.Errorf("%s: got %v, want %s %q", tt.name, tt.err, tt.code, tt.msg)
		}
	}

	// A file another is mounted over cannot be replaced: a conflict, not
	// a failure of the server.
	if os.Geteuid() == 0 {
		over := filepath.Join(dir, "mounted")
		os.WriteFile(over, nil, 0o644)
		if err := unix.Mount(filepath.Join(dir, "sub/dir/a.txt"), over, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		_, err := c.WriteFile(ctx, over, strings.NewReader("x"), 0)
		unix.Unmount(over, 0)
		if paddock.ErrorCode(err) != paddock.EConflict || !strings.Contains(paddock.ErrorMessage(err), "cannot replace "+over+": it is in use (a mount point)") {
			t.Errorf("write over a mount point: %v", err)
		}
	}

	if err := c.Mkdir(ctx, "m/n/o", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "m/n/o", true); err != nil {
		t.Fatalf("mkdir -p existing: %v", err)
	}
	if err := c.Remove(ctx, "m", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "m"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Fatalf("stat removed: %v", err)
	}

	// A failing reader leaves nothing behind, not even the temp file.
	_, err = c.WriteFile(ctx, "sub/fail", io.MultiReader(strings.NewReader("partial"), errReader{}), 0)
	if !errors.Is(err, errBoom) {
		t.Fatalf("failing reader: %v", err)
	}
	waitFor(t, func() bool {
		ents, _ := os.ReadDir(filepath.Join(dir, "sub"))
		for _, e := range ents {
			if e.Name() != "dir" && e.Name() != "link" {
				return false
			}
		}
		return true
	})
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestArchiveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := startGuest(t, Config{Dir: dir})
	ctx := context.Background()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "a/b"), 0o755)
	os.WriteFile(filepath.Join(src, "a/b/f.txt"), []byte("deep"), 0o600)
	os.WriteFile(filepath.Join(src, "top"), bytes.Repeat([]byte("x"), 100000), 0o755)
	os.Symlink("a/b/f.txt", filepath.Join(src, "ln"))

	rc, err := c.Archive(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	n, skipped, err := c.Extract(ctx, filepath.Join(dir, "dst"), rc)
	rc.Close()
	if err != nil || n != 100004 || skipped != nil {
		t.Fatalf("extract: %d %v %v", n, skipped, err)
	}
	if got := treeString(t, filepath.Join(dir, "dst")); got != treeString(t, src) {
		t.Fatalf("trees differ:\n%s\nvs\n%s", got, treeString(t, src))
	}
}

// treeString describes a tree: paths, modes, contents, link targets.
func treeString(t *testing.T, root string) string {
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %d %x", len(c), c[:min(len(c), 8)])
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func tarOf(t testing.TB, entries ...*tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	tw.Close()
	return &b
}

func TestExtractEscapes(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := startGuest(t, Config{Dir: dir})
	ctx := context.Background()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("keep"), 0o644)
	target := filepath.Join(dir, "a", "b")
	for _, tt := range []struct {
		name    string
		entries []*tar.Header
	}{
		{"dotdot", []*tar.Header{{Name: "../../secret", Typeflag: tar.TypeReg}}},
		{"absolute", []*tar.Header{{Name: "/etc/passwd-paddock-test", Typeflag: tar.TypeReg}}},
		{"symlink out then file through it", []*tar.Header{
			{Name: "ln", Typeflag: tar.TypeSymlink, Linkname: "/"},
			{Name: "ln/etc/passwd-paddock-test", Typeflag: tar.TypeReg},
		}},
		{"relative symlink out", []*tar.Header{{Name: "x/ln", Typeflag: tar.TypeSymlink, Linkname: "../../../secret"}}},
		{"hard link out", []*tar.Header{{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../../secret"}}},
	} {
		_, _, err := c.Extract(ctx, target, tarOf(t, tt.entries...))
		if paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
	// A symlink planted in the target beforehand cannot be written through.
	os.MkdirAll(target, 0o755)
	os.Symlink("/", filepath.Join(target, "planted"))
	if _, _, err := c.Extract(ctx, target, tarOf(t, &tar.Header{Name: "planted/tmp/paddock-escape", Typeflag: tar.TypeReg})); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("planted symlink: %v", err)
	}
	if _, err := os.Stat("/tmp/paddock-escape"); err == nil {
		os.Remove("/tmp/paddock-escape")
		t.Error("wrote through a planted symlink")
	}
	if _, err := os.Stat("/etc/passwd-paddock-test"); err == nil {
		t.Error("wrote /etc/passwd-paddock-test")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secret")); string(b) != "keep" {
		t.Errorf("secret changed: %q", b)
	}
	// Links that stay inside are fine.
	if _, _, err := c.Extract(ctx, target, tarOf(t,
		&tar.Header{Name: "d/f", Typeflag: tar.TypeReg},
		&tar.Header{Name: "d/ln", Typeflag: tar.TypeSymlink, Linkname: "f"},
		&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "d/../d/f"},
		&tar.Header{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: filepath.Join(target, "d/f")},
	)); err != nil {
		t.Errorf("inside links: %v", err)
	}
	if _, _, err := c.Extract(ctx, target, strings.NewReader("this is not a tar archive, not at all, no, it is not; and it must be at least 512 bytes long so that the reader gets to parse a header"+strings.Repeat(".", 512))); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("garbage: %v", err)
	}
}

// TestExtractSkipped checks that the entries an extract does not create
// (devices, FIFOs) are named in its reply, and a PAX global header is not.
func TestExtractSkipped(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := startGuest(t, Config{Dir: dir})
	ctx := context.Background()
	target := filepath.Join(dir, "dst")
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive) // as git archive writes them, a global header first
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	archive.Write(tarOf(t,
		&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		&tar.Header{Name: "f", Typeflag: tar.TypeReg},
		&tar.Header{Name: "pipe", Typeflag: tar.TypeFifo},
	).Bytes())
	_, skipped, err := c.Extract(ctx, target, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dev/null", "pipe"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}
	if _, err := os.Lstat(filepath.Join(target, "f")); err != nil {
		t.Error(err)
	}
	for _, p := range []string{"dev/null", "pipe"} {
		if _, err := os.Lstat(filepath.Join(target, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestDial(t *testing.T) {
	c, _, _ := startGuest(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	conn, err := c.Dial(context.Background(), port, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(conn)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.0 200") || !strings.HasSuffix(string(b), "pong") {
		t.Fatalf("got %q %v", b, err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	_, err = c.Dial(context.Background(), free, 0)
	if paddock.ErrorCode(err) != paddock.EUnavailable || !strings.Contains(paddock.ErrorMessage(err), fmt.Sprintf("nothing listens on port %d", free)) {
		t.Fatalf("refused: %v", err)
	}
}

// TestFilesAbort checks a reader closed early and an upload cancelled
// midway end cleanly on both sides.
func TestFilesAbort(t *testing.T) {
	dir := t.TempDir()
	c, _, _ := startGuest(t, Config{Dir: dir})
	ctx := context.Background()
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, 8<<20), 0o644)
	rc, _, err := c.ReadFile(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := rc.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after close")
	}

	cctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 1<<20))
		cancel()
		// WriteFile notices on its next write to the guest.
		for {
			if _, err := pw.Write(make([]byte, 1024)); err != nil {
				return
			}
		}
	}()
	if _, err := c.WriteFile(cctx, "up", pr, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: %v", err)
	}
	pr.Close()
	waitFor(t, func() bool {
		ents, _ := os.ReadDir(dir)
		return len(ents) == 1 // only "big": no temp file, no "up"
	})
	if _, err := c.Stat(ctx, "big"); err != nil {
		t.Fatalf("after aborts: %v", err)
	}
}
