// Package webui is Paddock's web UI: a single page written in plain
// JavaScript (no build step), embedded in the binary and served under
// /ui/. Its one third-party code is xterm.js, the terminal emulator of
// the environment page's terminal, vendored unmodified from npm in
// static/vendor/xterm (see its LICENSE for the versions) and loaded only
// when a terminal opens. It is a client of the public API and nothing
// else: it signs in with POST /api/v1/auth/login and sends the token as
// every other client does, so it can do only what its user may.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is the path the UI is served under.
const Prefix = "/ui/"

// csp allows the page its own scripts, styles and API and nothing else:
// no inline script, no other origin, no framing. Text from the API is
// always inserted as text (app.js never sets innerHTML from data), and
// this is the second line of defence. Style elements need the page's
// nonce: xterm.js makes its own, and app.js stamps them with it (see
// nonceMark). xterm.js also colours cells of 24-bit colour with style
// attributes, which CSS cannot script or load from, so those are allowed.
// Files other than the page get the policy without a nonce.
func csp(nonce string) string {
	elem := ""
	if nonce != "" {
		elem = "style-src-elem 'self' 'nonce-" + nonce + "'; "
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " + elem +
		"style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// nonceMark is where index.html has its style nonce, which every
// response of the page replaces with a new one.
var nonceMark = []byte("{{STYLE_NONCE}}")

// asset is one embedded file, with the validator a browser revalidates by,
// and its gzip encoding if it is worth having.
type asset struct {
	body        []byte
	etag, ctype string
	gz          []byte
}

// gzipAbove is the size past which a file is also kept gzipped.
const gzipAbove = 8 << 10

var assets = sync.OnceValue(func() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a := asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		if len(b) > gzipAbove {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			a.gz = buf.Bytes()
		}
		m[strings.TrimPrefix(p, "static/")] = a
		return nil
	})
	if err != nil { // the files are compiled in: this cannot fail at run time
		panic("webui: " + err.Error())
	}
	return m
})

// ServeHTTP serves the UI: a file under /ui/, and the page itself for
// /ui/ and any path that is not a file (the page routes by its fragment,
// so these are old or mistyped links, which land on the page).
// Browsers revalidate every file (no-cache with an ETag), so an upgraded
// server is never paired with a cached old script; the page itself, which
// carries a new nonce each time, is not stored at all. Large files go
// gzipped to browsers that take it.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	a, ok := assets()[name]
	if !ok || name == "" || name == "index.html" {
		servePage(w)
		return
	}
	h := w.Header()
	setHeaders(h, a.ctype, csp(""))
	h.Set("Cache-Control", "no-cache")
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// servePage serves index.html with a new style nonce.
func servePage(w http.ResponseWriter) {
	nonce := newNonce()
	h := w.Header()
	setHeaders(h, "text/html; charset=utf-8", csp(nonce))
	h.Set("Cache-Control", "no-store")
	w.Write(bytes.ReplaceAll(assets()["index.html"].body, nonceMark, []byte(nonce)))
}

func setHeaders(h http.Header, ctype, policy string) {
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// newNonce returns 128 random bits, base64.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip (and does
// not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if k, v, ok := strings.Cut(params, "="); ok && strings.TrimSpace(k) == "q" {
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q == 0 {
				return false
			}
		}
		return true
	}
	return false
}
