package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

// patternReader generates n bytes on the fly, hashing them, and tracks the
// host heap while it is read from.
type patternReader struct {
	n, off  int64
	h       hash.Hash
	maxHeap *uint64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		o := r.off + int64(i)
		p[i] = byte(o ^ o>>8 ^ o>>16)
	}
	r.h.Write(p)
	before := r.off
	r.off += int64(len(p))
	if before>>22 != r.off>>22 { // every 4 MiB
		sampleHeap(r.maxHeap)
	}
	return len(p), nil
}

func sampleHeap(max *uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	*max = maxU(*max, ms.HeapInuse)
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func testFiles(t *testing.T, rt *Runtime, id string, bigSize int64) {
	ctx := context.Background()
	t.Run("round trip", func(t *testing.T) {
		n, err := rt.WriteFile(ctx, id, "/work/dir/hello.txt", strings.NewReader("hello\n"), 0o600)
		if err != nil || n != 6 {
			t.Fatalf("write: %d %v", n, err)
		}
		// (Not stat(1): gVisor refuses coreutils' statx with EINVAL.)
		if res := sh(t, rt, id, `cat /work/dir/hello.txt; python3 -c 'import os; s = os.stat("/work/dir/hello.txt"); print("%o %d" % (s.st_mode & 0o777, s.st_uid))'`); res.Stdout != "hello\n600 0\n" {
			t.Fatalf("in the environment: %q", res.Stdout)
		}
		rc, fi, err := rt.ReadFile(ctx, id, "/work/dir/hello.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "hello\n" || fi.Size != 6 || fi.Mode != "-rw-------" || fi.Path != "/work/dir/hello.txt" {
			t.Fatalf("read: %q %v %+v", b, err, fi)
		}
		// Relative paths are against the working directory ("/" here).
		if _, _, err := rt.ReadFile(ctx, id, "work/dir/hello.txt"); err != nil {
			t.Fatalf("relative: %v", err)
		}
		rc, _, err = rt.ReadFile(ctx, id, "/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(rc)
		rc.Close()
		if !strings.Contains(string(b), "Pid:") {
			t.Fatalf("/proc/self/status: %q", b)
		}
	})
	t.Run("big file streams", func(t *testing.T) {
		before := heapNow()
		var maxHeap uint64
		src := &patternReader{n: bigSize, h: sha256.New(), maxHeap: &maxHeap}
		n, err := rt.WriteFile(ctx, id, "/big.bin", src, 0)
		if err != nil || n != bigSize {
			t.Fatalf("write: %d %v", n, err)
		}
		rc, fi, err := rt.ReadFile(ctx, id, "/big.bin")
		if err != nil || fi.Size != bigSize {
			t.Fatalf("read: %+v %v", fi, err)
		}
		h := sha256.New()
		buf := make([]byte, 64<<10)
		var got int64
		for {
			n, err := rc.Read(buf)
			h.Write(buf[:n])
			if got>>22 != (got+int64(n))>>22 {
				sampleHeap(&maxHeap)
			}
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
		if got != bigSize || !bytes.Equal(h.Sum(nil), src.h.Sum(nil)) {
			t.Fatalf("read back %d bytes, hash match %v", got, bytes.Equal(h.Sum(nil), src.h.Sum(nil)))
		}
		t.Logf("heap in use: %d MiB before, at most %d MiB while streaming %d MiB", before>>20, maxHeap>>20, bigSize>>20)
		if maxHeap > before+32<<20 {
			t.Errorf("heap grew by %d MiB", (maxHeap-before)>>20)
		}
		if err := rt.RemoveFile(ctx, id, "/big.bin", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("list mkdir remove", func(t *testing.T) {
		if err := rt.Mkdir(ctx, id, "/l/a/b", true); err != nil {
			t.Fatal(err)
		}
		sh(t, rt, id, "echo x > /l/f; ln -s /etc /l/ln")
		infos, err := rt.ListFiles(ctx, id, "/l")
		if err != nil || len(infos) != 3 {
			t.Fatalf("list: %+v %v", infos, err)
		}
		if a := infos[0]; a.Name != "a" || a.Type != "dir" || a.Mode != "drwxr-xr-x" || a.Perm != 0o755 {
			t.Errorf("dir: %+v", a)
		}
		if f := infos[1]; f.Name != "f" || f.Type != "file" || f.Size != 2 || f.Path != "/l/f" {
			t.Errorf("file: %+v", f)
		}
		if l := infos[2]; l.Type != "symlink" || l.LinkTarget != "/etc" {
			t.Errorf("symlink: %+v", l)
		}
		if err := rt.Mkdir(ctx, id, "/l/a", false); paddock.ErrorCode(err) != paddock.EConflict {
			t.Errorf("mkdir existing: %v", err)
		}
		if err := rt.RemoveFile(ctx, id, "/l", false); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("remove non-empty: %v", err)
		}
		if err := rt.RemoveFile(ctx, id, "/l", true); err != nil {
			t.Fatal(err)
		}
		// The symlink went, not what it pointed to.
		if res := sh(t, rt, id, "test -e /l || echo gone; test -e /etc/passwd && echo kept"); res.Stdout != "gone\nkept\n" {
			t.Fatalf("after remove: %q", res.Stdout)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, _, err := rt.ReadFile(ctx, id, "/nope")
		if paddock.ErrorCode(err) != paddock.ENotFound || paddock.ErrorMessage(err) != "no such file: /nope" {
			t.Errorf("missing: %v", err)
		}
		if _, _, err := rt.ReadFile(ctx, id, "/etc"); paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), "is a directory") {
			t.Errorf("directory: %v", err)
		}
		if _, err := rt.ListFiles(ctx, id, "/etc/passwd"); paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), "not a directory") {
			t.Errorf("list a file: %v", err)
		}
		if _, err := rt.WriteFile(ctx, id, "/sys/paddock-test", strings.NewReader("x"), 0); paddock.ErrorCode(err) != paddock.EForbidden {
			t.Errorf("read-only: %v", err)
		}
		if _, err := rt.StatFile(ctx, id, "/etc/passwd"); err != nil {
			t.Errorf("stat: %v", err)
		}
	})
	t.Run("archive round trip", func(t *testing.T) {
		sh(t, rt, id, "mkdir -p /src/a/b && echo deep > /src/a/b/f && chmod 600 /src/a/b/f && head -c 300000 /dev/urandom > /src/big && ln -s a/b/f /src/ln")
		rc, err := rt.ArchiveDir(ctx, id, "/src")
		if err != nil {
			t.Fatal(err)
		}
		_, err = rt.ExtractArchive(ctx, id, "/dst", rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		tree := `find . -printf '%p %y %m %s %l\n' | sort; find . -type f | sort | xargs md5sum`
		src, dst := sh(t, rt, id, "cd /src && "+tree).Stdout, sh(t, rt, id, "cd /dst && "+tree).Stdout
		if src != dst || !strings.Contains(src, "./ln l 777") {
			t.Fatalf("trees differ:\n%s\nvs\n%s", src, dst)
		}
	})
	t.Run("extract refuses escapes", func(t *testing.T) {
		passwd := sh(t, rt, id, "md5sum /etc/passwd").Stdout
		for name, entries := range map[string][]*tar.Header{
			"dotdot": {{Name: "../../etc/passwd", Typeflag: tar.TypeReg}},
			"symlink to / then through it": {
				{Name: "root", Typeflag: tar.TypeSymlink, Linkname: "/"},
				{Name: "root/etc/passwd", Typeflag: tar.TypeReg},
			},
		} {
			_, err := rt.ExtractArchive(ctx, id, "/x/y", tarOf(t, entries...))
			if paddock.ErrorCode(err) != paddock.EInvalid {
				t.Errorf("%s: %v", name, err)
			}
		}
		if sh(t, rt, id, "md5sum /etc/passwd").Stdout != passwd {
			t.Fatal("/etc/passwd changed")
		}
	})
}

func tarOf(t testing.TB, entries ...*tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = 4
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("evil"))
		}
	}
	tw.Close()
	return &b
}
