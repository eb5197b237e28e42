package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

func TestCheckUpgrade(t *testing.T) {
	ok := http.Header{
		"Connection":            {"keep-alive, Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	for _, tt := range []struct {
		name string
		edit func(http.Header)
		want string // "" for no error
	}{
		{"a handshake", func(http.Header) {}, ""},
		{"a plain GET", func(h http.Header) { h.Del("Connection"); h.Del("Upgrade") }, "this route is a WebSocket"},
		{"another upgrade", func(h http.Header) { h.Set("Upgrade", "h2c") }, "this route is a WebSocket"},
		{"an old version", func(h http.Header) { h.Set("Sec-WebSocket-Version", "8") }, `Sec-WebSocket-Version must be 13, not "8"`},
		{"no key", func(h http.Header) { h.Del("Sec-WebSocket-Key") }, "needs one Sec-WebSocket-Key header, not 0"},
		{"a bad key", func(h http.Header) { h.Set("Sec-WebSocket-Key", "short") }, "Sec-WebSocket-Key must be 16 bytes in base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/api/v1/environments/env-x/attach", nil)
			r.Header = ok.Clone()
			tt.edit(r.Header)
			err := checkUpgrade(r)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), tt.want) {
				t.Errorf("got %v, want invalid %q", err, tt.want)
			}
		})
	}
}

func TestAttachMessageError(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"resize","cols":"wide","rows":4}`: `malformed message: field "cols" must be an integer between 1 and 1000, not string`,
		`{"type":"resize","cols":1,"rows":1e30}`:   `field "rows" must be an integer between 1 and 1000, not number 1e30`,
		`{"type":7}`:                               `field "type" must be a string, not number`,
		`not json`:                                 `malformed message: want JSON like`,
	} {
		var m attachMessage
		err := json.Unmarshal([]byte(in), &m)
		if err == nil {
			t.Fatalf("%s: decoded", in)
		}
		if got := attachMessageError(err); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
