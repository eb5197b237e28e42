package pptx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testDeck = &Deck{
	Title:    "Quarterly <Review> & \"more\"",
	Subtitle: "Q3 2026",
	Lang:     "en-GB",
	Slides: []Slide{
		{Title: "Revenue", Bullets: []string{"Grew 12%", "日本語のテキスト 🙂", "a control\x01character", "  spread\nover   lines  ", ""}, Notes: "Say hello.\nThen the numbers."},
		{Title: "No bullets"},
		{Title: "Next steps", Bullets: []string{"Hire", "Ship"}},
	},
	Created: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
}

// TestWritePackage checks the package the way a strict reader does:
// every part is well-formed XML with a content type, every relationship
// points at a part that exists, the slides are listed in order, and the
// text is what was given, escaped.
func TestWritePackage(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, testDeck); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string][]byte{}
	for i, f := range zr.File {
		if i == 0 && f.Name != "[Content_Types].xml" {
			t.Errorf("first part %s, want [Content_Types].xml", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if _, dup := parts[f.Name]; dup {
			t.Errorf("part %s twice", f.Name)
		}
		parts[f.Name] = b
		if err := wellFormed(b); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}

	var types struct {
		Defaults []struct {
			Extension string `xml:"Extension,attr"`
		} `xml:"Default"`
		Overrides []struct {
			PartName string `xml:"PartName,attr"`
		} `xml:"Override"`
	}
	if err := xml.Unmarshal(parts["[Content_Types].xml"], &types); err != nil {
		t.Fatal(err)
	}
	typed := map[string]bool{}
	for _, o := range types.Overrides {
		typed[strings.TrimPrefix(o.PartName, "/")] = true
	}
	for name := range parts {
		if name == "[Content_Types].xml" || strings.HasSuffix(name, ".rels") {
			continue
		}
		if !typed[name] {
			t.Errorf("part %s has no content type", name)
		}
		delete(typed, name)
	}
	for name := range typed {
		t.Errorf("content type for a missing part %s", name)
	}

	for name, b := range parts {
		if !strings.HasSuffix(name, ".rels") {
			continue
		}
		var rs struct {
			Rel []struct {
				ID     string `xml:"Id,attr"`
				Target string `xml:"Target,attr"`
			} `xml:"Relationship"`
		}
		if err := xml.Unmarshal(b, &rs); err != nil {
			t.Fatal(err)
		}
		// _rels/x.xml.rels belongs to x.xml; targets are relative to x's folder.
		dir := path.Dir(path.Dir(name))
		for _, r := range rs.Rel {
			target := path.Join(dir, r.Target)
			if _, ok := parts[target]; !ok {
				t.Errorf("%s: %s points at missing %s", name, r.ID, target)
			}
		}
	}

	var pres struct {
		Slides []struct {
			RID string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sldIdLst>sldId"`
	}
	if err := xml.Unmarshal(parts["ppt/presentation.xml"], &pres); err != nil {
		t.Fatal(err)
	}
	if len(pres.Slides) != 4 || !bytes.Contains(parts["ppt/presentation.xml"], []byte(`<p:sldId id="256" r:id="`+pres.Slides[0].RID+`"/>`)) {
		t.Errorf("slide list %+v, want 4 from id 256", pres.Slides)
	}

	want := [][]string{
		{"Quarterly <Review> & \"more\"", "Q3 2026"},
		{"Revenue", "Grew 12%", "日本語のテキスト 🙂", "a controlcharacter", "spread over lines"},
		{"No bullets"},
		{"Next steps", "Hire", "Ship"},
	}
	for i, w := range want {
		got := texts(t, parts[path.Join("ppt/slides", "slide"+string(rune('1'+i))+".xml")])
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("slide %d: %q, want %q", i+1, got, w)
		}
	}
	if got := texts(t, parts["ppt/notesSlides/notesSlide2.xml"]); strings.Join(got, "|") != "Say hello.|Then the numbers." {
		t.Errorf("notes %q", got)
	}
	if !bytes.Contains(parts["ppt/slides/slide2.xml"], []byte(`lang="en-GB"`)) || !bytes.Contains(parts["docProps/core.xml"], []byte("2026-11-23T10:00:00Z")) {
		t.Error("language or creation time missing")
	}
	if _, ok := parts["ppt/notesSlides/notesSlide3.xml"]; ok {
		t.Error("notes slide for a slide without notes")
	}

	if bytes.Contains(parts["ppt/slides/slide2.xml"], []byte("rtl=")) {
		t.Error("left-to-right text marked right to left")
	}

	// Arabic runs right to left: titles and bullets aligned right, the
	// title slide's centred text keeping its alignment.
	buf.Reset()
	if err := Write(&buf, &Deck{Title: "تقرير", Lang: "ar-EG", Slides: []Slide{{Title: "الإيرادات", Bullets: []string{"نمت"}}}}); err != nil {
		t.Fatal(err)
	}
	zr, err = zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ppt/slides/slide1.xml": `<a:p><a:pPr rtl="1"/><a:r><a:rPr lang="ar-EG" dirty="0"/><a:t>تقرير</a:t>`,
		"ppt/slides/slide2.xml": `<a:p><a:pPr algn="r" rtl="1"/><a:r><a:rPr lang="ar-EG" dirty="0"/><a:t>نمت</a:t>`} {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %s:\n%s", name, want, b)
		}
	}

	// A deck without notes has no notes master.
	buf.Reset()
	if err := Write(&buf, &Deck{Title: "Only a title"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("notesMaster")) {
		t.Error("a notes master without notes")
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// texts returns the text of each paragraph (a:p) of a slide part.
func texts(t *testing.T, b []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []string
	var cur *strings.Builder
	inT := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "p":
				cur = &strings.Builder{}
			case "t":
				inT = true
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "p":
				if cur.Len() > 0 {
					out = append(out, cur.String())
				}
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				cur.Write(el)
			}
		}
	}
}

// TestLibreOffice opens the presentation in LibreOffice Impress, which
// refuses a package it cannot read, renders it to PDF, and reads the text
// back from each page.
func TestLibreOffice(t *testing.T) {
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("LibreOffice is not installed (scripts/deps.sh test installs it)")
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext is not installed (scripts/deps.sh test installs it)")
	}
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "deck.pptx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, testDeck); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(soffice, "--headless", "--convert-to", "pdf", "--outdir", dir, filepath.Join(dir, "deck.pptx"))
	cmd.Env = append(os.Environ(), "HOME="+dir) // its profile, not the user's
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "deck.pdf")); errors.Is(err, os.ErrNotExist) {
		t.Fatal("LibreOffice could not convert the presentation")
	}
	out, err := exec.Command(pdftotext, "-layout", filepath.Join(dir, "deck.pdf"), "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f\n"), "\f")
	if len(pages) != 4 {
		t.Fatalf("%d pages, want 4:\n%s", len(pages), out)
	}
	for i, want := range [][]string{{"Quarterly <Review>", "Q3 2026"}, {"Revenue", "• Grew 12%", "日本語のテキスト", "spread over lines"}, {"No bullets"}, {"Next steps", "• Hire", "• Ship"}} {
		for _, w := range want {
			if !strings.Contains(pages[i], w) {
				t.Errorf("page %d lacks %q:\n%s", i+1, w, pages[i])
			}
		}
	}
}
