package paddock

import (
	"strings"
	"testing"
)

func TestCheckLabels(t *testing.T) {
	for _, tt := range []struct {
		labels map[string]string
		want   string // substring of the EInvalid message; "" for none
	}{
		{map[string]string{"project": "demo", "paddock.session": "ses_1", "app.kubernetes.io/name": "", "team name": "a b"}, ""},
		{map[string]string{"": "x"}, `field "labels" has an empty key`},
		{map[string]string{"a=b": "x"}, `label key "a=b" is invalid: it must not contain ',', '=' or '!'`},
		{map[string]string{"a,b": "x"}, `label key "a,b" is invalid`},
		{map[string]string{"a!": "x"}, `label key "a!" is invalid`},
		{map[string]string{" a": "x"}, "white space"},
		{map[string]string{"a\n": "x"}, "white space"},
		{map[string]string{"a\x01b": "x"}, "control characters"},
		{map[string]string{strings.Repeat("k", 64): "x"}, "longer than 63 characters"},
		{map[string]string{"a": "b,c"}, `label "a" has an invalid value "b,c"`},
		{map[string]string{"a": "b=c"}, "invalid value"},
		{map[string]string{"a": "x "}, "white space"},
		{map[string]string{"a": strings.Repeat("v", 256)}, "longer than 255 characters"},
	} {
		err := CheckLabels(tt.labels)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.labels, err)
			}
			continue
		}
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), tt.want) {
			t.Errorf("%q: got %v, want invalid %q", tt.labels, err, tt.want)
		}
	}
	// Every label it accepts, a selector can select.
	labels := map[string]string{"project": "demo", "team name": "a b", "empty": ""}
	if err := CheckLabels(labels); err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		sel, err := ParseLabelSelector(k + "=" + v)
		if err != nil || !sel.Matches(labels) || !sel.Matches(map[string]string{k: v}) || sel.Matches(map[string]string{k: v + "x"}) {
			t.Errorf("selector for %q=%q: %v %v", k, v, sel, err)
		}
	}
}
