package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestJSONText: whole-file reads go as text while their JSON is no
// larger than base64 of the largest file would be, and as base64 past it.
func TestJSONText(t *testing.T) {
	const n = 3 << 10 // the largest file read, small to keep the test quick
	for _, tc := range []struct {
		name string
		b    []byte
		text bool
	}{
		{"empty", nil, true},
		{"source code", []byte("print(\"<b>\" & 'x')\n\tpass\r\n"), true},
		{"latin-1, not UTF-8", []byte("caf\xe9"), false},
		{"the largest file of letters", bytes.Repeat([]byte("a"), n), true},
		{"the largest file of newlines", bytes.Repeat([]byte("\n"), n), false},
		{"the largest file of NULs", make([]byte, n), false},
		{"a small file of NULs", make([]byte, 100), true},
		{"NULs just under the bound", make([]byte, (n*4/3)/6), true},
		{"NULs just over the bound", make([]byte, (n*4/3)/6+2), false},
		{"the largest file of '<'", bytes.Repeat([]byte("<"), n), false},
	} {
		if got := jsonText(tc.b, n); got != tc.text {
			t.Errorf("%s: jsonText = %v, want %v", tc.name, got, tc.text)
		}
		if utf8.Valid(tc.b) {
			// What the encoder writes is what the bound is about.
			j, _ := json.Marshal(string(tc.b))
			if fits := len(j)-2 <= base64.StdEncoding.EncodedLen(n); fits != tc.text {
				t.Errorf("%s: JSON string of %d bytes; sent as text: %v", tc.name, len(j)-2, tc.text)
			}
		}
	}
}
