package paddock

import (
	"strings"
	"testing"
)

func TestCheckEnv(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"A": "x", "B_2": "", "lower": "a=b"}, ""},
		{map[string]string{"A=B": "x"}, `field "env" has an invalid variable name "A=B"`},
		{map[string]string{"": "y"}, `invalid variable name ""`},
		{map[string]string{"A\x00": "y"}, "invalid variable name"},
		{map[string]string{"A": "x\x00y"}, "the value of A contains a NUL byte"},
	} {
		err := CheckEnv(tt.env)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.env, err)
			}
			continue
		}
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), tt.want) {
			t.Errorf("%q: got %v, want invalid %q", tt.env, err, tt.want)
		}
	}
}
