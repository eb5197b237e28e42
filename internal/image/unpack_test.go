package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// ent is one entry of a synthetic layer.
type ent struct {
	name     string
	typ      byte // tar.TypeReg when 0
	mode     int64
	body     string
	link     string
	uid, gid int
}

func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) ent { return ent{name: name, body: body, mode: 0o644} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

// layerTar returns the entries as a tar stream.
func layerTar(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: typ,
			Mode:     e.mode,
			Linkname: e.link,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  testTime,
			Format:   tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if typ == tar.TypeChar {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layer returns the entries as a v1.Layer.
func layer(t testing.TB, entries ...ent) v1.Layer {
	t.Helper()
	b := layerTar(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func unpackForTest(t *testing.T, shift uint32, layers ...v1.Layer) (string, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := unpackLayers(context.Background(), dst, layers, shift, slog.New(slog.DiscardHandler))
	return dst, err
}

// describe summarises a tree as path -> "type mode uid:gid detail".
func describe(t *testing.T, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		owner := fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		perm := fmt.Sprintf("%04o", st.Mode&0o7777)
		switch fi.Mode().Type() {
		case fs.ModeDir:
			out[rel] = "dir " + perm + " " + owner
		case fs.ModeSymlink:
			target, _ := os.Readlink(p)
			out[rel] = "symlink " + owner + " -> " + target
		case fs.ModeNamedPipe:
			out[rel] = "fifo " + perm + " " + owner
		case 0:
			b, _ := os.ReadFile(p)
			out[rel] = fmt.Sprintf("file %s %s links=%d %q", perm, owner, st.Nlink, b)
		default:
			out[rel] = "other " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to set ownership")
	}
}

func TestUnpackLayers(t *testing.T) {
	requireRoot(t)
	suid := file("usr/bin/tool", "#!tool")
	suid.mode = 0o4755
	owned := file("home/user/notes", "mine")
	owned.uid, owned.gid = 1000, 1001
	fifo := ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620}
	dev := ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666}
	lower := layer(t,
		dir("./"),
		dir("etc/"),
		file("etc/passwd", "root:x:0:0"),
		dir("usr/"), dir("usr/bin/"),
		suid,
		hardlink("usr/bin/tool2", "usr/bin/tool"),
		symlink("bin", "usr/bin"),
		symlink("abs", "/usr"),
		file("gone", "bye"),
		dir("gonedir/"), file("gonedir/x", "x"),
		dir("opaque/"), file("opaque/lower1", "l1"), dir("opaque/sub/"), file("opaque/sub/lower2", "l2"),
		file("tobedir", "file first"),
		dir("home/"), dir("home/user/"), owned,
		fifo,
		dev,
	)
	upper := layer(t,
		file("etc/passwd", "root:x:0:0:new"),
		file(".wh.gone", ""),
		file(".wh.gonedir", ""),
		// Written before the opaque marker of its directory: must stay.
		file("opaque/sub/new2", "n2"),
		file("opaque/.wh..wh..opq", ""),
		file("opaque/new", "n"),
		// Through the relative symlink bin -> usr/bin ...
		file("bin/via-symlink", "v"),
		// ... and through the absolute one, resolved inside the root.
		file("abs/via-abs", "a"),
		dir("tobedir/"),
		file("implicit/parent/file", "p"),
		file(".wh.never-existed", ""),
	)
	root, err := unpackForTest(t, 0, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".":                    "dir 0755 0:0",
		"abs":                  "symlink 0:0 -> /usr",
		"bin":                  "symlink 0:0 -> usr/bin",
		"dev":                  "dir 0755 0:0",
		"etc":                  "dir 0755 0:0",
		"etc/passwd":           `file 0644 0:0 links=1 "root:x:0:0:new"`,
		"home":                 "dir 0755 0:0",
		"home/user":            "dir 0755 0:0",
		"home/user/notes":      `file 0644 1000:1001 links=1 "mine"`,
		"implicit":             "dir 0755 0:0",
		"implicit/parent":      "dir 0755 0:0",
		"implicit/parent/file": `file 0644 0:0 links=1 "p"`,
		"opaque":               "dir 0755 0:0",
		"opaque/new":           `file 0644 0:0 links=1 "n"`,
		"opaque/sub":           "dir 0755 0:0",
		"opaque/sub/new2":      `file 0644 0:0 links=1 "n2"`,
		"run":                  "dir 0755 0:0",
		"run/fifo":             "fifo 0620 0:0",
		"tobedir":              "dir 0755 0:0",
		"usr":                  "dir 0755 0:0",
		"usr/bin":              "dir 0755 0:0",
		"usr/bin/tool":         `file 4755 0:0 links=2 "#!tool"`,
		"usr/bin/tool2":        `file 4755 0:0 links=2 "#!tool"`,
		"usr/bin/via-symlink":  `file 0644 0:0 links=1 "v"`,
		"usr/via-abs":          `file 0644 0:0 links=1 "a"`,
	}
	if diff := cmp.Diff(want, describe(t, root)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	for _, p := range []string{".", "etc", "etc/passwd", "usr/bin", "bin"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), testTime)
		}
	}
	a, _ := os.Stat(filepath.Join(root, "usr/bin/tool"))
	b, _ := os.Stat(filepath.Join(root, "usr/bin/tool2"))
	if !os.SameFile(a, b) {
		t.Error("usr/bin/tool2 is not a hard link of usr/bin/tool")
	}
}

func TestUnpackSize(t *testing.T) {
	root, err := unpackForTest(t, 0, layer(t,
		file("a", "12345"),
		hardlink("b", "a"),
		file("c", "678"),
		symlink("d", "a"),
	))
	if err != nil {
		t.Fatal(err)
	}
	size, err := treeSize(root)
	if err != nil {
		t.Fatal(err)
	}
	if size != 8 {
		t.Errorf("size = %d, want 8 (hard links counted once)", size)
	}
}

func TestUnpackShift(t *testing.T) {
	requireRoot(t)
	const shift = 100000
	owned := file("home/user/f", "x")
	owned.uid, owned.gid = 1000, 50
	suid := file("usr/bin/su", "su")
	suid.mode = 0o4755
	root, err := unpackForTest(t, shift, layer(t,
		dir("home/"),
		owned,
		symlink("home/link", "/etc/shadow"),
		suid,
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		uid, gid uint32
	}{
		{".", shift, shift},
		{"home", shift, shift},
		{"home/user", shift, shift}, // implicit parent
		{"home/user/f", shift + 1000, shift + 50},
		{"home/link", shift, shift}, // the link itself, not /etc/shadow
		{"usr/bin/su", shift, shift},
	}
	for _, tt := range tests {
		fi, err := os.Lstat(filepath.Join(root, tt.path))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != tt.uid || st.Gid != tt.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tt.path, st.Uid, st.Gid, tt.uid, tt.gid)
		}
	}
	fi, err := os.Lstat(filepath.Join(root, "usr/bin/su"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("usr/bin/su lost its setuid bit after chown: %v", fi.Mode())
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/etc/shadow", &st); err == nil && st.Uid == shift {
		t.Error("chown followed home/link to /etc/shadow")
	}
}

// TestUnpackEscapes feeds layers that try to write, link or delete outside
// the root. Each must fail or stay inside; nothing outside may change.
func TestUnpackEscapes(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	up := strings.Repeat("../", 20)
	tests := []struct {
		name    string
		layers  [][]ent
		wantErr bool
	}{
		{"dotdot file", [][]ent{{file("../pwned", "x")}}, true},
		{"dotdot inside name", [][]ent{{file("a/../../pwned", "x")}}, true},
		{"dotdot to outside dir", [][]ent{{file(up+strings.TrimPrefix(outside, "/")+"/pwned", "x")}}, true},
		{"absolute symlink dir", [][]ent{{symlink("link", outside)}, {file("link/pwned", "x")}}, true},
		{"relative symlink dir", [][]ent{{symlink("link", up+strings.TrimPrefix(outside, "/"))}, {file("link/pwned", "x")}}, true},
		{"symlink dir same layer", [][]ent{{symlink("link", outside), file("link/pwned", "x")}}, true},
		{"overwrite symlink to file", [][]ent{{symlink("f", secret)}, {file("f", "x")}}, false},
		{"hardlink dotdot", [][]ent{{hardlink("h", "../"+secret)}}, true},
		{"hardlink through symlink", [][]ent{{symlink("l", outside)}, {hardlink("h", "l/secret")}}, true},
		{"whiteout through symlink", [][]ent{{symlink("l", outside)}, {file("l/.wh.secret", "")}}, false},
		{"opaque through symlink", [][]ent{{symlink("l", outside)}, {file("l/.wh..wh..opq", "")}}, false},
		{"whiteout dotdot", [][]ent{{file("../.wh.secret", "")}}, true},
		{"symlinked root parent", [][]ent{{symlink("l", "/")}, {file("l/etc/pwned", "x")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := describe(t, outside)
			var layers []v1.Layer
			for _, es := range tt.layers {
				layers = append(layers, layer(t, es...))
			}
			root, err := unpackForTest(t, 0, layers...)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(before, describe(t, outside)); diff != "" {
				t.Errorf("outside the root changed (-before +after):\n%s", diff)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(root), "pwned")); err == nil {
				t.Error("wrote next to the root")
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"./", ".", false},
		{"/", ".", false},
		{"a/b/", "a/b", false},
		{"/abs/path", "abs/path", false},
		{"./a/./b/../c", "a/c", false},
		{"..", "", true},
		{"../a", "", true},
		{"a/../../b", "", true},
		{"/../a", "", true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
