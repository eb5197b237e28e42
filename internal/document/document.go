// Package document turns files attached to a message into what a model
// can read: images pass through as images, text-like files (plain text,
// Markdown, CSV, JSON, source code) as text, and PDFs as their extracted
// text. Anything else is refused with an error that says what is accepted.
package document

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"

	"github.com/paddockhq/paddock"
)

// Kind is how a model receives a file.
type Kind int

const (
	Image Kind = iota + 1 // sent as an image
	Text                  // sent as text
	PDF                   // sent as the text extracted from it
)

// Accepted describes the accepted files, for error messages.
const Accepted = "images (PNG, JPEG, GIF, WebP), text files (plain text, Markdown, CSV, JSON, YAML, XML, HTML, source code) and PDF"

var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// textTypes are non-text/* media types whose content is text.
var textTypes = map[string]bool{
	"application/json": true, "application/ld+json": true, "application/x-ndjson": true,
	"application/xml": true, "application/javascript": true, "application/x-javascript": true,
	"application/typescript": true, "application/yaml": true, "application/x-yaml": true,
	"application/toml": true, "application/sql": true, "application/x-sh": true,
	"application/x-python": true, "application/x-httpd-php": true, "application/graphql": true,
	"application/x-tex": true, "application/csv": true,
}

// textExtensions are file name extensions of text files, for clients that
// send application/octet-stream or no type.
var textExtensions = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`txt text md markdown csv tsv json jsonl ndjson yaml yml xml html htm
		css scss js mjs cjs ts tsx jsx py pyi go rs java kt kts scala swift c h cc cpp cxx hpp hh cs rb php
		pl pm lua r jl sh bash zsh fish ps1 sql toml ini cfg conf env properties log tex rst adoc org
		graphql proto dockerfile makefile mk cmake gradle vue svelte dart ex exs erl hs ml clj el vim diff patch`) {
		textExtensions["."+e] = true
	}
}

// Classify says how a file named name, of media type mimeType, with the
// given content is sent to a model, and returns its normalized media type.
// An empty or generic type is inferred from the name and the content. A
// file of another type, a text file that is not UTF-8 or a PDF that is not
// one is EInvalid.
func Classify(name, mimeType string, data []byte) (Kind, string, error) {
	mt, _, err := mime.ParseMediaType(mimeType)
	if err != nil || mt == "" || mt == "application/octet-stream" {
		mt = inferType(name, data)
	}
	mt = strings.ToLower(mt)
	if mt == "image/jpg" {
		mt = "image/jpeg"
	}
	switch {
	case imageTypes[mt]:
		if sniffed := http.DetectContentType(data); sniffed != mt {
			return 0, "", paddock.Errorf(paddock.EInvalid, "attachment %q is declared %s but its content is %s", name, mt, sniffed)
		}
		return Image, mt, nil
	case mt == "application/pdf":
		if !bytes.HasPrefix(data, []byte("%PDF-")) {
			return 0, "", paddock.Errorf(paddock.EInvalid, "attachment %q is declared application/pdf but is not a PDF", name)
		}
		return PDF, mt, nil
	case strings.HasPrefix(mt, "text/") || textTypes[mt] || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml"):
		if !utf8.Valid(data) {
			return 0, "", paddock.Errorf(paddock.EInvalid, "attachment %q is declared %s but is not UTF-8 text", name, mt)
		}
		return Text, mt, nil
	}
	return 0, "", paddock.Errorf(paddock.EInvalid, "attachment %q has type %s, which is not supported: send %s", name, mt, Accepted)
}

// inferType guesses a media type from a file name's extension, then from
// the content.
func inferType(name string, data []byte) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		ext = "." + strings.ToLower(path.Base(name)) // Dockerfile, Makefile
	}
	switch {
	case ext == ".pdf":
		return "application/pdf"
	case ext == ".jpg" || ext == ".jpeg":
		return "image/jpeg"
	case ext == ".png" || ext == ".gif" || ext == ".webp":
		return "image/" + ext[1:]
	case textExtensions[ext] && utf8.Valid(data):
		return "text/plain"
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	return mt
}

// MaxPDFText bounds the text extracted from one PDF.
const MaxPDFText = 1 << 20

// PDFText returns the text of a PDF, page by page. A malformed PDF, or one
// without text (a scan), is EInvalid.
func PDFText(data []byte) (text string, err error) {
	defer func() {
		// The PDF reader panics on some malformed files.
		if p := recover(); p != nil {
			text, err = "", paddock.Errorf(paddock.EInvalid, "not a readable PDF: %v", p)
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", paddock.Errorf(paddock.EInvalid, "not a readable PDF: %v", err)
	}
	var b strings.Builder
	fonts := map[string]*pdf.Font{}
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return "", paddock.Errorf(paddock.EInvalid, "not a readable PDF: page %d: %v", i, err)
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.TrimSpace(t))
		if b.Len() > MaxPDFText {
			break
		}
	}
	text = strings.TrimSpace(strings.ToValidUTF8(b.String(), ""))
	if text == "" {
		return "", paddock.Errorf(paddock.EInvalid, "the PDF has no text to extract (a scanned PDF needs OCR, which Paddock does not do)")
	}
	if len(text) > MaxPDFText {
		text = text[:MaxPDFText] + "\n[... truncated]"
	}
	return text, nil
}
