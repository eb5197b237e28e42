package paddock_test

import (
	"testing"

	"github.com/paddockhq/paddock"
)

// TestMessageValidate checks the parts a client may send: a text part
// needs text as an image part needs data, and the error names the part.
func TestMessageValidate(t *testing.T) {
	for _, tc := range []struct {
		parts []paddock.ContentPart
		msg   string // "" when valid
	}{
		{[]paddock.ContentPart{paddock.TextPart("hi")}, ""},
		{[]paddock.ContentPart{{Type: paddock.PartImage, MIMEType: "image/png", Data: "iVBO"}}, ""},
		{[]paddock.ContentPart{{Type: paddock.PartText}}, "content[0]: text part needs text (it is empty or blank)"},
		{[]paddock.ContentPart{paddock.TextPart("hi"), paddock.TextPart(" \n\t")}, "content[1]: text part needs text (it is empty or blank)"},
		{[]paddock.ContentPart{{Type: paddock.PartImage}}, "content[0]: image part needs data (base64)"},
		{nil, "message content is required"},
	} {
		err := (&paddock.Message{Role: paddock.MessageUser, Content: tc.parts}).Validate()
		if tc.msg == "" && err != nil || tc.msg != "" && (paddock.ErrorCode(err) != paddock.EInvalid || paddock.ErrorMessage(err) != tc.msg) {
			t.Errorf("%+v: %v, want %q", tc.parts, err, tc.msg)
		}
	}
}
