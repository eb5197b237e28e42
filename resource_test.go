package paddock

import "testing"

func TestResourceRef(t *testing.T) {
	for ref, want := range map[string]string{
		"res_abc123":                      "res_abc123",
		"rag://resource/res_abc123":       "res_abc123",
		"res_":                            "res_",
		"docs":                            "",
		"rag://docs":                      "",
		"rag://resource/docs":             "",
		"res_ABC":                         "",
		"res_a/b":                         "",
		"res_a b":                         "",
		"res_" + string(make([]byte, 61)): "",
		"":                                "",
	} {
		got, ok := ResourceRef(ref)
		if got != want || ok != (want != "") {
			t.Errorf("ResourceRef(%q) = %q, %v; want %q", ref, got, ok, want)
		}
	}
}
