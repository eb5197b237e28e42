package document

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

func TestPDFText(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	text, err := PDFText(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Quarterly report", "Revenue grew 12 percent to 4.2 million.", "Churn fell to 3 percent."} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	// Malformed PDFs are a clear error, never a panic.
	for _, bad := range [][]byte{[]byte("%PDF-1.4\ngarbage"), data[:len(data)/2], bytes.ReplaceAll(data, []byte("xref"), []byte("xxxx"))} {
		if _, err := PDFText(bad); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("malformed PDF: %v", err)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pdf, _ := os.ReadFile("testdata/report.pdf")
	for _, c := range []struct {
		name, mime string
		data       []byte
		kind       Kind
		wantMIME   string
		err        string
	}{
		{"a.png", "image/png", png, Image, "image/png", ""},
		{"a.png", "", png, Image, "image/png", ""},
		{"a.jpg", "image/png", []byte("not an image"), 0, "", "its content is text/plain"},
		{"notes.md", "text/markdown", []byte("# Notes"), Text, "text/markdown", ""},
		{"data.csv", "text/csv; charset=utf-8", []byte("a,b\n1,2"), Text, "text/csv", ""},
		{"x.json", "application/json", []byte(`{"a":1}`), Text, "application/json", ""},
		{"main.go", "application/octet-stream", []byte("package main"), Text, "text/plain", ""},
		{"Dockerfile", "", []byte("FROM debian"), Text, "text/plain", ""},
		{"report.pdf", "application/pdf", pdf, PDF, "application/pdf", ""},
		{"fake.pdf", "application/pdf", []byte("hello"), 0, "", "not a PDF"},
		{"bin.txt", "text/plain", []byte{0xff, 0xfe, 0x00}, 0, "", "not UTF-8"},
		{"doc.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK\x03\x04"), 0, "", "not supported"},
	} {
		kind, mt, err := Classify(c.name, c.mime, c.data)
		if c.err != "" {
			if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %s: error %v, want %q", c.name, c.mime, err, c.err)
			}
			continue
		}
		if err != nil || kind != c.kind || mt != c.wantMIME {
			t.Errorf("%s %s: %v %q %v, want %v %q", c.name, c.mime, kind, mt, err, c.kind, c.wantMIME)
		}
	}
}
