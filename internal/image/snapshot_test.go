package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
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
