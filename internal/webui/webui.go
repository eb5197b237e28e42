// Package webui is Paddock's web UI: a single page written in plain
// JavaScript (no build step, no third-party code), embedded in the binary
// and served under /ui/. It is a client of the public API and nothing
// else: it signs in with POST /api/v1/auth/login and sends the token as
// every other client does, so it can do only what its user may.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
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
// this is the second line of defence.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// asset is one embedded file, with the validator a browser revalidates by.
type asset struct {
	body        []byte
	etag, ctype string
}

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
		m[strings.TrimPrefix(p, "static/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
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
// server is never paired with a cached old script.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	a, ok := assets()[name]
	if !ok || name == "" {
		a = assets()["index.html"]
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
