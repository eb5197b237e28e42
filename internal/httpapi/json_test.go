package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

// TestDecodeJSONMessages checks the messages of bodies of the wrong type:
// they name what was expected and what came, in plain words.
func TestDecodeJSONMessages(t *testing.T) {
	s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter()})
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Name  string   `json:"name"`
		Count int      `json:"count"`
		Tags  []string `json:"tags"`
	}
	var list []string
	for _, tc := range []struct {
		body string
		v    any
		msg  string
	}{
		{`[1, 2]`, &obj, "request body must be a JSON object, not an array"},
		{`"x"`, &obj, "request body must be a JSON object, not a string"},
		{`42`, &obj, "request body must be a JSON object, not a number"},
		{`true`, &obj, "request body must be a JSON object, not a boolean"},
		{`{"a": 1}`, &list, "request body must be a JSON array, not an object"},
		{`{"count": "x"}`, &obj, `field "count" must be an integer, not string`},
		{`{"tags": {}}`, &obj, `field "tags" must be an array, not object`},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		err := s.decodeJSON(httptest.NewRecorder(), r, tc.v)
		if paddock.ErrorCode(err) != paddock.EInvalid || paddock.ErrorMessage(err) != tc.msg {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.msg)
		}
	}
}
