package httpapi

import (
	"slices"
	"testing"
)

func TestTextEvents(t *testing.T) {
	var got []string
	te := &textEvents{name: "stdout", send: func(name string, v any) error {
		got = append(got, name+":"+v.(execChunk).Data)
		return nil
	}}
	for _, w := range []string{
		"plain ",
		"caf\xc3",           // é cut after its first byte
		"\xa9 ",             // its end
		"\xe6\x97",          // 日 cut after two of three bytes: nothing to send
		"\xa5 and \xf0\x9f", // its end, then 🙂 cut in half
		"\x99\x82",
		"\xff",     // not UTF-8 at all: sent as it is
		"tail\xe6", // output that ends inside a character
	} {
		if n, err := te.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	te.flush()
	want := []string{"stdout:plain ", "stdout:caf", "stdout:é ", "stdout:日 and ", "stdout:🙂", "stdout:\xff", "stdout:tail", "stdout:\xe6"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
