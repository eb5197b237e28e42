package httpapi

import (
	"context"
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

// TestUploadBodyCancelled checks that an operation stopped by the
// request's cancellation before it read the body's failure (a client
// that half-closes the connection after a body framed wrongly) is still
// blamed on the body, and that a whole body leaves the cancellation.
func TestUploadBodyCancelled(t *testing.T) {
	cut := &uploadBody{r: io.MultiReader(strings.NewReader("hello"), errReader{io.ErrUnexpectedEOF})}
	if _, err := cut.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	err := cut.failed(fmt.Errorf("write file: %w", context.Canceled))
	if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), "reading the request body: unexpected EOF") {
		t.Errorf("cut body: got %s %v", paddock.ErrorCode(err), err)
	}
	whole := &uploadBody{r: strings.NewReader("hello")}
	if err := whole.failed(context.Canceled); err != context.Canceled {
		t.Errorf("whole body: got %v, want the cancellation", err)
	}
}
