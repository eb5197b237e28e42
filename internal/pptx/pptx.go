// Package pptx writes PowerPoint presentations (.pptx, Office Open XML
// PresentationML): a title slide and slides of a title and bullet points,
// on a plain 16:9 theme, with speaker notes. It writes the parts a
// presentation needs and nothing else; the tests render them with
// LibreOffice Impress. Text is escaped for XML, characters XML cannot
// hold are dropped, and long text shrinks to fit its box (normAutofit)
// where the viewer does that.
package pptx

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Deck is a presentation.
type Deck struct {
	Title    string // of the title slide and of the document's properties
	Subtitle string // of the title slide, may be empty
	Lang     string // BCP 47 tag of the text (e.g. "en-US"); empty: en-US
	Author   string // the document's creator; empty: Paddock
	Slides   []Slide
	Created  time.Time // zero: now
}

// Slide is a slide after the title slide.
type Slide struct {
	Title   string
	Bullets []string // one paragraph each
	Notes   string   // speaker notes, may be empty
}

// Content type of a .pptx file.
const ContentType = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

const (
	nsA    = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"`
	nsR    = `xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	nsP    = `xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`
	nsARP  = nsA + " " + nsR + " " + nsP
	xmlHdr = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	relNS  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	ctNS   = "application/vnd.openxmlformats-officedocument."
)

// Write writes d as a .pptx file to w.
func Write(w io.Writer, d *Deck) error {
	lang := d.Lang
	if lang == "" {
		lang = "en-US"
	}
	created := d.Created
	if created.IsZero() {
		created = time.Now()
	}
	author := d.Author
	if author == "" {
		author = "Paddock"
	}
	n := len(d.Slides) + 1 // the title slide first
	nNotes := countNotes(d)
	notes := nNotes > 0

	var parts []part
	add := func(name, body string) { parts = append(parts, part{name, body}) }

	// The package: content types, then the relationships from its root.
	var ct strings.Builder
	ct.WriteString(xmlHdr + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>`)
	override := func(name, typ string) {
		fmt.Fprintf(&ct, `<Override PartName="/%s" ContentType="%s"/>`, name, typ)
	}
	override("ppt/presentation.xml", ctNS+"presentationml.presentation.main+xml")
	override("ppt/presProps.xml", ctNS+"presentationml.presProps+xml")
	override("ppt/viewProps.xml", ctNS+"presentationml.viewProps+xml")
	override("ppt/tableStyles.xml", ctNS+"presentationml.tableStyles+xml")
	override("ppt/theme/theme1.xml", ctNS+"theme+xml")
	override("ppt/slideMasters/slideMaster1.xml", ctNS+"presentationml.slideMaster+xml")
	override("ppt/slideLayouts/slideLayout1.xml", ctNS+"presentationml.slideLayout+xml")
	override("ppt/slideLayouts/slideLayout2.xml", ctNS+"presentationml.slideLayout+xml")
	for i := 1; i <= n; i++ {
		override(fmt.Sprintf("ppt/slides/slide%d.xml", i), ctNS+"presentationml.slide+xml")
	}
	if notes {
		override("ppt/notesMasters/notesMaster1.xml", ctNS+"presentationml.notesMaster+xml")
		override("ppt/theme/theme2.xml", ctNS+"theme+xml")
		for i, s := range d.Slides {
			if hasNotes(s) {
				override(fmt.Sprintf("ppt/notesSlides/notesSlide%d.xml", i+2), ctNS+"presentationml.notesSlide+xml")
			}
		}
	}
	override("docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml")
	override("docProps/app.xml", ctNS+"extended-properties+xml")
	ct.WriteString(`</Types>`)
	add("[Content_Types].xml", ct.String())
	add("_rels/.rels", rels(
		rel{relNS + "officeDocument", "ppt/presentation.xml"},
		rel{"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"},
		rel{relNS + "extended-properties", "docProps/app.xml"},
	))
	stamp := created.UTC().Format("2006-01-02T15:04:05Z")
	add("docProps/core.xml", xmlHdr+`<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<dc:title>`+esc(d.Title)+`</dc:title><dc:creator>`+esc(author)+`</dc:creator><dc:language>`+esc(lang)+`</dc:language>`+
		`<dcterms:created xsi:type="dcterms:W3CDTF">`+stamp+`</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">`+stamp+`</dcterms:modified></cp:coreProperties>`)
	add("docProps/app.xml", xmlHdr+`<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Paddock</Application>`+
		fmt.Sprintf(`<Slides>%d</Slides><Notes>%d</Notes><PresentationFormat>Widescreen</PresentationFormat></Properties>`, n, nNotes))

	// The presentation: its master, its slides in order, its properties.
	presRels := []rel{{relNS + "slideMaster", "slideMasters/slideMaster1.xml"}, {relNS + "theme", "theme/theme1.xml"},
		{relNS + "presProps", "presProps.xml"}, {relNS + "viewProps", "viewProps.xml"}, {relNS + "tableStyles", "tableStyles.xml"}}
	var pres strings.Builder
	pres.WriteString(xmlHdr + `<p:presentation ` + nsARP + ` saveSubsetFonts="1"><p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>`)
	if notes {
		presRels = append(presRels, rel{relNS + "notesMaster", "notesMasters/notesMaster1.xml"})
		fmt.Fprintf(&pres, `<p:notesMasterIdLst><p:notesMasterId r:id="rId%d"/></p:notesMasterIdLst>`, len(presRels))
	}
	pres.WriteString(`<p:sldIdLst>`)
	for i := 1; i <= n; i++ {
		presRels = append(presRels, rel{relNS + "slide", fmt.Sprintf("slides/slide%d.xml", i)})
		fmt.Fprintf(&pres, `<p:sldId id="%d" r:id="rId%d"/>`, 255+i, len(presRels))
	}
	pres.WriteString(`</p:sldIdLst><p:sldSz cx="12192000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>`)
	add("ppt/presentation.xml", pres.String())
	add("ppt/_rels/presentation.xml.rels", rels(presRels...))
	add("ppt/presProps.xml", xmlHdr+`<p:presentationPr `+nsARP+`/>`)
	add("ppt/viewProps.xml", xmlHdr+`<p:viewPr `+nsARP+`><p:gridSpacing cx="76200" cy="76200"/></p:viewPr>`)
	add("ppt/tableStyles.xml", xmlHdr+`<a:tblStyleLst `+nsA+` def="{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}"/>`)
	add("ppt/theme/theme1.xml", theme)
	add("ppt/slideMasters/slideMaster1.xml", slideMaster)
	add("ppt/slideMasters/_rels/slideMaster1.xml.rels", rels(
		rel{relNS + "slideLayout", "../slideLayouts/slideLayout1.xml"},
		rel{relNS + "slideLayout", "../slideLayouts/slideLayout2.xml"},
		rel{relNS + "theme", "../theme/theme1.xml"},
	))
	for i, l := range []string{titleLayout, contentLayout} {
		add(fmt.Sprintf("ppt/slideLayouts/slideLayout%d.xml", i+1), l)
		add(fmt.Sprintf("ppt/slideLayouts/_rels/slideLayout%d.xml.rels", i+1), rels(rel{relNS + "slideMaster", "../slideMasters/slideMaster1.xml"}))
	}
	if notes {
		add("ppt/notesMasters/notesMaster1.xml", notesMaster)
		add("ppt/notesMasters/_rels/notesMaster1.xml.rels", rels(rel{relNS + "theme", "../theme/theme2.xml"}))
		add("ppt/theme/theme2.xml", theme)
	}

	// The slides.
	add("ppt/slides/slide1.xml", slideXML(
		shape(2, "Title 1", `<p:ph type="ctrTitle"/>`, []string{d.Title}, lang, ""),
		shape(3, "Subtitle 2", `<p:ph type="subTitle" idx="1"/>`, []string{d.Subtitle}, lang, "")))
	add("ppt/slides/_rels/slide1.xml.rels", rels(rel{relNS + "slideLayout", "../slideLayouts/slideLayout1.xml"}))
	for i, s := range d.Slides {
		num := i + 2
		add(fmt.Sprintf("ppt/slides/slide%d.xml", num), slideXML(
			shape(2, "Title 1", `<p:ph type="title"/>`, []string{s.Title}, lang, "r"),
			shape(3, "Content Placeholder 2", `<p:ph idx="1"/>`, s.Bullets, lang, "r")))
		slideRels := []rel{{relNS + "slideLayout", "../slideLayouts/slideLayout2.xml"}}
		if hasNotes(s) {
			notesName := fmt.Sprintf("notesSlide%d.xml", num)
			slideRels = append(slideRels, rel{relNS + "notesSlide", "../notesSlides/" + notesName})
			add("ppt/notesSlides/"+notesName, notesSlide(s.Notes, lang))
			add("ppt/notesSlides/_rels/"+notesName+".rels", rels(
				rel{relNS + "notesMaster", "../notesMasters/notesMaster1.xml"},
				rel{relNS + "slide", fmt.Sprintf("../slides/slide%d.xml", num)}))
		}
		add(fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", num), rels(slideRels...))
	}

	zw := zip.NewWriter(w)
	for _, p := range parts {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: created})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(f, p.body); err != nil {
			return err
		}
	}
	return zw.Close()
}

type part struct{ name, body string }

type rel struct{ typ, target string }

// rels is a relationships part; the relationships' ids are rId1, rId2...
// in order.
func rels(rs ...rel) string {
	var b strings.Builder
	b.WriteString(xmlHdr + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i, r := range rs {
		fmt.Fprintf(&b, `<Relationship Id="rId%d" Type="%s" Target="%s"/>`, i+1, r.typ, r.target)
	}
	b.WriteString(`</Relationships>`)
	return b.String()
}

func hasNotes(s Slide) bool { return strings.TrimSpace(s.Notes) != "" }

func countNotes(d *Deck) int {
	n := 0
	for _, s := range d.Slides {
		if hasNotes(s) {
			n++
		}
	}
	return n
}

const spTreeStart = `<p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>` +
	`<p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>`

func slideXML(shapes ...string) string {
	return xmlHdr + `<p:sld ` + nsARP + `><p:cSld>` + spTreeStart + strings.Join(shapes, "") +
		`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>`
}

// shape is a placeholder shape (ph) holding paragraphs, one per string;
// its place and style come from the layout. align is the alignment of
// right-to-left text ("" keeps the layout's).
func shape(id int, name, ph string, paras []string, lang, align string) string {
	return fmt.Sprintf(`<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr>%s</p:nvPr></p:nvSpPr><p:spPr/>`, id, name, ph) +
		`<p:txBody><a:bodyPr><a:normAutofit/></a:bodyPr><a:lstStyle/>` + paragraphs(paras, lang, align) + `</p:txBody></p:sp>`
}

// paragraphs renders text paragraphs; a text body holds at least one.
// Text in a right-to-left language (Arabic, Hebrew, Persian, Urdu...)
// runs right to left, aligned as align says.
func paragraphs(paras []string, lang, align string) string {
	pPr := ""
	if rightToLeft(lang) {
		pPr = `<a:pPr rtl="1"/>`
		if align != "" {
			pPr = `<a:pPr algn="` + align + `" rtl="1"/>`
		}
	}
	var b strings.Builder
	for _, p := range paras {
		p = strings.Join(strings.Fields(p), " ") // a paragraph is one line of words
		if p == "" {
			continue
		}
		fmt.Fprintf(&b, `<a:p>%s<a:r><a:rPr lang="%s" dirty="0"/><a:t>%s</a:t></a:r></a:p>`, pPr, esc(lang), esc(p))
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, `<a:p><a:endParaRPr lang="%s"/></a:p>`, esc(lang))
	}
	return b.String()
}

// rightToLeft reports whether the language of BCP 47 tag lang is written
// right to left.
func rightToLeft(lang string) bool {
	base, _, _ := strings.Cut(strings.ToLower(lang), "-")
	switch base {
	case "ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "ps", "sd", "syr", "ug", "ur", "yi":
		return true
	}
	return false
}

func notesSlide(notes, lang string) string {
	paras := strings.Split(notes, "\n")
	return xmlHdr + `<p:notes ` + nsARP + `><p:cSld>` + spTreeStart +
		`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Slide Image Placeholder 1"/><p:cNvSpPr><a:spLocks noGrp="1" noRot="1" noChangeAspect="1"/></p:cNvSpPr><p:nvPr><p:ph type="sldImg"/></p:nvPr></p:nvSpPr><p:spPr/></p:sp>` +
		shape(3, "Notes Placeholder 2", `<p:ph type="body" idx="1"/>`, paras, lang, "r") +
		`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:notes>`
}

// esc escapes s for XML text and attributes, dropping the characters XML
// 1.0 cannot hold (most control characters, unpaired surrogates).
func esc(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
