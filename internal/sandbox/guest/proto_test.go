package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	fw := &frameWriter{w: &b}
	if err := fw.write(frameStdout, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := fw.writeJSON(frameExit, ExitStatus{Code: 3}); err != nil {
		t.Fatal(err)
	}
	if err := fw.write(frameStdinEOF, nil); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	typ, p, buf, err := readFrame(&b, buf)
	if err != nil || typ != frameStdout || string(p) != "hello" {
		t.Fatalf("got %c %q %v", typ, p, err)
	}
	typ, p, buf, err = readFrame(&b, buf)
	if err != nil || typ != frameExit || string(p) != `{"code":3}` {
		t.Fatalf("got %c %q %v", typ, p, err)
	}
	typ, p, buf, err = readFrame(&b, buf)
	if err != nil || typ != frameStdinEOF || len(p) != 0 {
		t.Fatalf("got %c %q %v", typ, p, err)
	}
	if _, _, _, err = readFrame(&b, buf); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
}

func TestFrameLimits(t *testing.T) {
	big := []byte{frameStdout, 0xff, 0xff, 0xff, 0xff}
	if _, _, _, err := readFrame(bytes.NewReader(big), nil); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	short := []byte{frameStdout, 0, 0, 0, 9, 'a'}
	if _, _, _, err := readFrame(bytes.NewReader(short), nil); err != io.ErrUnexpectedEOF {
		t.Fatalf("short frame: %v", err)
	}
}

// FuzzReadFrame checks the decoder never panics, never returns more than
// maxFrame bytes and consumes exactly what it reports, and that decoding
// each frame's payload as its type says (the way host and guest do) never
// panics.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{frameStdout, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{frameHeader, 0, 0, 0, 0})
	f.Add([]byte{frameExit, 0xff, 0xff, 0xff, 0xff})
	frame := func(typ byte, payload string) []byte {
		var b bytes.Buffer
		(&frameWriter{w: &b}).write(typ, []byte(payload))
		return b.Bytes()
	}
	f.Add(frame(frameResize, `{"cols":100,"rows":40}`))
	f.Add(frame(frameError, `{"code":"not_found","message":"no such file: /x"}`))
	f.Add(frame(frameError, `{"code":"unsupported_request","message":"no"}`))
	f.Add(frame(frameOK, `{"name":"x","path":"/x","size":1,"mode":33188,"mtime_ns":1}`))
	f.Add(frame(frameData, `[{"name":"l","mode":41471,"link_target":"/"}]`))
	f.Add(frame(frameHeader, `{"kind":"file","file":{"op":"read","path":"/etc/passwd"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		for {
			before := r.Len()
			typ, p, nbuf, err := readFrame(r, buf)
			buf = nbuf
			if err != nil {
				return
			}
			if len(p) > maxFrame || before-r.Len() != 5+len(p) {
				t.Fatalf("frame of %d bytes consumed %d", len(p), before-r.Len())
			}
			switch typ {
			case frameHeader:
				var h streamHeader
				json.Unmarshal(p, &h)
			case frameResize:
				var ws windowSize
				json.Unmarshal(p, &ws)
			case frameError:
				if decodeError(p) == nil {
					t.Fatal("error frame decoded to nil")
				}
			case frameOK:
				var wi wireFileInfo
				if decodeJSON(p, &wi) == nil {
					checkInfo(t, wi.info())
				}
			case frameData:
				var batch []wireFileInfo
				if decodeJSON(p, &batch) == nil {
					for _, wi := range batch {
						checkInfo(t, wi.info())
					}
				}
			}
		}
	})
}

func checkInfo(t *testing.T, fi paddock.FileInfo) {
	if len(fi.Mode) != 10 || fi.Perm > 0o7777 {
		t.Fatalf("bad info %+v", fi)
	}
	switch fi.Type {
	case paddock.FileTypeFile, paddock.FileTypeDir, paddock.FileTypeSymlink, paddock.FileTypeOther:
	default:
		t.Fatalf("bad type %q", fi.Type)
	}
}

func TestModeString(t *testing.T) {
	for mode, want := range map[uint32]string{
		0o100644: "-rw-r--r--",
		0o040755: "drwxr-xr-x",
		0o041777: "drwxrwxrwt",
		0o120777: "lrwxrwxrwx",
		0o104755: "-rwsr-xr-x",
		0o102644: "-rw-r-Sr--",
		0o020620: "crw--w----",
		0o010600: "prw-------",
	} {
		if got := modeString(mode); got != want {
			t.Errorf("%o: got %s, want %s", mode, got, want)
		}
	}
}

// FuzzEntryName checks archive entry names never resolve outside the
// target directory, and links judged inside stay inside.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/etc/passwd", "a/../../b", "./", "a/./b/..", "..", "a\x00b"} {
		f.Add(s, "../t")
	}
	f.Fuzz(func(t *testing.T, name, link string) {
		const dir = "/target/dir"
		n, werr := entryName(name)
		if werr != nil || n == "." {
			return // "." is the directory itself, which extraction skips
		}
		full := filepath.Join(dir, n)
		if full != dir && !strings.HasPrefix(full, dir+"/") {
			t.Fatalf("entry %q lands at %s", name, full)
		}
		if linkEscapes(n, link, dir) {
			return
		}
		var dest string
		if filepath.IsAbs(link) {
			dest = filepath.Clean(link)
		} else {
			dest = filepath.Join(filepath.Dir(full), link)
		}
		if dest != dir && !strings.HasPrefix(dest, dir+"/") {
			t.Fatalf("link %q at %q points to %s", link, name, dest)
		}
	})
}
