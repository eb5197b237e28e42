package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

// TestUploadBody checks that a failed upload is blamed on the body when
// reading it failed, whatever the operation made of that error.
func TestUploadBody(t *testing.T) {
	opErr := errors.New("guest: write file: stream reset") // what an operation may return
	for _, tt := range []struct {
		name     string
		body     io.Reader
		code     string
		msg      string
		bodyFail bool
	}{
		{"broken chunking", io.MultiReader(strings.NewReader("hello"), errReader{errors.New("invalid byte in chunk length")}), paddock.EInvalid, "reading the request body: invalid byte in chunk length", true},
		{"cut short", io.MultiReader(strings.NewReader("hello"), errReader{io.ErrUnexpectedEOF}), paddock.EInvalid, "reading the request body: unexpected EOF", true},
		{"too large", http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader("0123456789")), 4), paddock.ETooLarge, "exceeds the limit of 4 bytes", true},
		{"fine body, failed operation", strings.NewReader("hello"), paddock.EInternal, "stream reset", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &uploadBody{r: tt.body}
			_, rerr := io.ReadAll(b)
			if (rerr != nil) != tt.bodyFail {
				t.Fatalf("read: %v", rerr)
			}
			err := b.failed(fmt.Errorf("write file: %w", opErr))
			if paddock.ErrorCode(err) != tt.code || !strings.Contains(paddock.ErrorMessage(err)+err.Error(), tt.msg) {
				t.Errorf("got %s %v, want %s %q", paddock.ErrorCode(err), err, tt.code, tt.msg)
			}
			if b.failed(nil) != nil {
				t.Error("failed(nil) is not nil")
			}
		})
	}
}
