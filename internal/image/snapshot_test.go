package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/paddockhq/paddock"
)

// TestUnshift checks the owners of a snapshot's files: ids of the store's
// shifted trees go back to the ids they stand for, others stay, the data
// is untouched, and a broken stream is an error.
func TestUnshift(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	ids := []int{0, 1000, testShift, testShift + 1000, testShift + idRange - 1, testShift + idRange}
	for i, id := range ids {
		tw.WriteHeader(&tar.Header{Name: string(rune('a' + i)), Mode: 0o600, Size: 3, Uid: id, Gid: id + 1})
		tw.Write([]byte("abc"))
	}
	tw.Close()
	rc := unshift(bytes.NewReader(in.Bytes()), testShift)
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := []int{0, 1000, 0, 1000, idRange - 1, testShift + idRange}
	for i := range ids {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if hdr.Uid != want[i] || string(data) != "abc" {
			t.Errorf("%s: uid %d (%q), want %d", hdr.Name, hdr.Uid, data, want[i])
		}
		if wantGid := want[i] + 1; i == 4 {
			if hdr.Gid != testShift+idRange { // one past the range stays
				t.Errorf("%s: gid %d", hdr.Name, hdr.Gid)
			}
		} else if hdr.Gid != wantGid {
			t.Errorf("%s: gid %d, want %d", hdr.Name, hdr.Gid, wantGid)
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the entries: %v", err)
	}
	// A stream cut short inside a file.
	cut := unshift(bytes.NewReader(in.Bytes()[:513]), testShift)
	if _, err := io.ReadAll(cut); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("a truncated stream read as %v", err)
	}
}

// TestStoreSnapshot stores a snapshot: its tree is owned as the
// environment had it, shifted once (an owner gVisor showed shifted is not
// shifted twice), and it has the process defaults it was given.
func TestStoreSnapshot(t *testing.T) {
	requireRoot(t)
	s := newStore(t, nil)
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: testShift, Gid: testShift})
	tw.WriteHeader(&tar.Header{Name: "etc/owned", Mode: 0o640, Size: 2, Uid: 1000, Gid: testShift + 1001})
	tw.Write([]byte("hi"))
	tw.Close()
	img, err := s.Snapshot(context.Background(), "snap:1", &in, paddock.ImageConfig{Env: []string{"A=1"}, Cmd: []string{"/bin/sh"}}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.Source != "snapshot" || img.Name != "snap:1" || !slices.Equal(img.Config.Env, []string{"A=1"}) || !slices.Equal(img.Config.Cmd, []string{"/bin/sh"}) {
		t.Errorf("image %+v", img)
	}
	for name, want := range map[string][2]uint32{"etc": {testShift, testShift}, "etc/owned": {testShift + 1000, testShift + 1001}} {
		fi, err := os.Lstat(filepath.Join(img.RootFS, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, want[0], want[1])
		}
	}
	if _, err := s.Snapshot(context.Background(), "Bad Name", bytes.NewReader(nil), paddock.ImageConfig{}, "test", nil); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("a bad name: %v", err)
	}
}
