package document

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/paddockhq/paddock"
)

// Searchable describes the files whose text can be searched, for error
// messages.
const Searchable = "text files (plain text, Markdown, CSV, JSON, YAML, XML, HTML, source code) and PDF"

// ExtractText returns the normalized media type of a file and its text
// for search: a text file as it is (HTML without its markup), a PDF's
// extracted text. Images and other types, and files without text, are
// EInvalid.
func ExtractText(name, mimeType string, data []byte) (string, string, error) {
	kind, mt, err := Classify(name, mimeType, data)
	if err != nil {
		return "", "", err
	}
	var text string
	switch kind {
	case Image:
		return "", "", paddock.Errorf(paddock.EInvalid, "%q is an image, which has no text to search: send %s", name, Searchable)
	case PDF:
		if text, err = PDFText(data); err != nil {
			return "", "", err
		}
	default:
		text = string(data)
		if mt == "text/html" || mt == "application/xhtml+xml" {
			text = htmlText(data)
		}
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	if text == "" {
		return "", "", paddock.Errorf(paddock.EInvalid, "%q has no text", name)
	}
	return mt, text, nil
}

// htmlText returns the text of an HTML document, a paragraph per block,
// without scripts and styles.
func htmlText(data []byte) string {
	var b strings.Builder
	z := html.NewTokenizer(bytes.NewReader(data))
	skip := 0 // inside script or style
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "noscript", "template":
				// <script/> too starts a script, as browsers read it: the
				// tokenizer takes what follows as its raw text.
				if tt != html.EndTagToken {
					skip++
				} else if skip > 0 {
					skip--
				}
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre", "blockquote", "table", "ul", "ol",
				"dl", "dt", "dd", "hr", "header", "footer", "main", "nav", "aside", "figure", "figcaption", "caption", "details", "summary",
				"form", "fieldset", "legend", "address", "option":
				b.WriteString("\n\n")
			case "br":
				b.WriteString("\n")
			case "td", "th", "img", "input":
				// Cells of a row, and inline elements without text,
				// separate the words around them.
				b.WriteString(" ")
			}
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		}
	}
}

// Split cuts text into passages of at most size bytes for search, at
// paragraph breaks where it can, else at line, sentence or word breaks,
// and within a word only when a word is longer than size. Runs of blank
// lines and spaces at the edges of passages are dropped.
func Split(text string, size int) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		if cur.Len() > 0 && cur.Len()+2+len(para) > size {
			flush()
		}
		for len(para) > size {
			cut := breakAt(para, size)
			cur.WriteString(para[:cut])
			flush()
			para = strings.TrimSpace(para[cut:])
		}
		if para == "" {
			continue
		}
		if cur.Len() > 0 {
			cur.WriteString("\n\n")
		}
		cur.WriteString(para)
	}
	flush()
	return out
}

// breakAt returns where to cut s, longer than size, so that s[:cut] is at
// most size bytes: after the last line break, else sentence end, else
// space in its second half; else at a rune boundary.
func breakAt(s string, size int) int {
	head := s[:size]
	for _, sep := range []string{"\n", ". ", "! ", "? ", "。", "; ", " "} {
		if i := strings.LastIndex(head, sep); i >= size/2 {
			return i + len(sep)
		}
	}
	if i := strings.LastIndexFunc(head, unicode.IsSpace); i >= size/2 {
		return i + 1
	}
	cut := size
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if cut == 0 { // size is smaller than the first rune
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	return cut
}
