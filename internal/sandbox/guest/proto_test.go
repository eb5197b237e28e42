package guest

import (
	"bytes"
	"errors"
	"io"
	"testing"
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
// maxFrame bytes and consumes exactly what it reports.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{frameStdout, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{frameHeader, 0, 0, 0, 0})
	f.Add([]byte{frameExit, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		for {
			before := r.Len()
			_, p, nbuf, err := readFrame(r, buf)
			buf = nbuf
			if err != nil {
				return
			}
			if len(p) > maxFrame || before-r.Len() != 5+len(p) {
				t.Fatalf("frame of %d bytes consumed %d", len(p), before-r.Len())
			}
		}
	})
}
