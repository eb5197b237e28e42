package document

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
)

func TestExtractText(t *testing.T) {
	mt, text, err := ExtractText("page.html", "text/html; charset=utf-8",
		[]byte("<html><head><style>p{color:red}</style><script>var secret=1</script></head><body><h1>Title</h1><p>First <b>bold</b> paragraph.</p><p>Second.</p></body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	if mt != "text/html" || strings.Contains(text, "secret") || strings.Contains(text, "color") || strings.Contains(text, "<") {
		t.Fatalf("html: %s %q", mt, text)
	}
	if got := Split(text, 1000); len(got) != 1 || !strings.Contains(got[0], "First bold paragraph.") || !strings.Contains(got[0], "Title\n\nFirst") {
		t.Fatalf("html passages: %q", got)
	}

	// Line breaks, rules, table cells and definition lists separate the
	// words around them, self-closing or not, so that search finds them.
	for html, want := range map[string][]string{
		`<p>line1<br/>line2<br>line3</p>`: {"line1", "line2", "line3"},
		`a<hr/>b`:                         {"a", "b"},
		`<table><tr><th>name</th><th>days</th></tr><tr><td>alpha</td><td>25</td></tr></table>`: {"name", "days", "alpha", "25"},
		`<dl><dt>term</dt><dd>definition</dd></dl>`:                                            {"term", "definition"},
		`<select><option>one</option><option>two</option></select>`:                            {"one", "two"},
		`<span>in</span><span>line</span><script/>var x = "<p>hidden</p>"</script>`:            {"inline"},
	} {
		_, text, err := ExtractText("page.html", "text/html", []byte(html))
		if err != nil {
			t.Fatalf("%s: %v", html, err)
		}
		if words := strings.Fields(text); strings.Join(words, " ") != strings.Join(want, " ") {
			t.Errorf("%s: words %q, want %q", html, words, want)
		}
	}

	mt, text, err = ExtractText("notes.md", "", []byte("# Notes\r\n\r\nline\r\n"))
	if err != nil || mt != "text/plain" || text != "# Notes\n\nline" {
		t.Fatalf("markdown: %s %q %v", mt, text, err)
	}

	for name, c := range map[string]struct {
		name, typ string
		data      []byte
		want      string
	}{
		"image":  {"a.png", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image, which has no text"},
		"empty":  {"a.txt", "text/plain", []byte(" \n\n "), "has no text"},
		"binary": {"a.bin", "application/zip", []byte("PK\x03\x04"), "not supported"},
		"pdf":    {"a.pdf", "application/pdf", []byte("%PDF-1.4 broken"), "not a readable PDF"},
	} {
		_, _, err := ExtractText(c.name, c.typ, c.data)
		if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want EInvalid with %q", name, err, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	// Paragraphs are kept whole and packed together up to the size.
	text := "alpha one.\n\n\n\nbeta two.\n\ngamma three."
	if got := Split(text, 24); len(got) != 2 || got[0] != "alpha one.\n\nbeta two." || got[1] != "gamma three." {
		t.Fatalf("paragraphs: %q", got)
	}
	// A long paragraph is cut at sentence ends, then at spaces.
	long := strings.Repeat("Word word word. ", 20)
	for _, p := range Split(long, 50) {
		if len(p) > 50 || !strings.HasSuffix(p, ".") {
			t.Fatalf("sentence cut: %q", p)
		}
	}
	// A word longer than the size is cut at rune boundaries, losing nothing.
	word := strings.Repeat("é", 30) // 60 bytes
	got := Split(word, 7)
	if strings.Join(got, "") != word {
		t.Fatalf("lost text: %q", got)
	}
	for _, p := range got {
		if len(p) > 7 || !utf8.ValidString(p) {
			t.Fatalf("rune cut: %q", p)
		}
	}
	if got := Split("  \n\n ", 10); len(got) != 0 {
		t.Fatalf("blank: %q", got)
	}
}
