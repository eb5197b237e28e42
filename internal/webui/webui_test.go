package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	ServeHTTP(w, r)
	return w
}

// TestServe checks each file comes with its type, the page with the
// security headers, that any other path under /ui/ is the page, and that
// a browser revalidating with the ETag gets a 304.
func TestServe(t *testing.T) {
	for path, want := range map[string]string{
		"/ui/":            "text/html",
		"/ui/index.html":  "text/html",
		"/ui/app.js":      "text/javascript",
		"/ui/app.css":     "text/css",
		"/ui/environment": "text/html", // not a file: the page
	} {
		w := get(t, path, nil)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), want) {
			t.Errorf("%s: %d %s, want 200 %s", path, w.Code, w.Header().Get("Content-Type"), want)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		cache := "no-cache"
		if want == "text/html" {
			cache = "no-store" // its nonce is new every time
		}
		if w.Header().Get("Cache-Control") != cache || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, w.Header())
		}
	}
	page := get(t, "/ui/", nil)
	if !strings.Contains(page.Body.String(), `<script type="module" src="/ui/app.js">`) {
		t.Errorf("the page does not load the script:\n%s", page.Body)
	}
	// Each page has its own style nonce, in its policy and its meta tag.
	nonce := regexp.MustCompile(`style-src-elem 'self' 'nonce-([A-Za-z0-9+/=]{24})'`)
	m1 := nonce.FindStringSubmatch(page.Header().Get("Content-Security-Policy"))
	page2 := get(t, "/ui/", nil)
	m2 := nonce.FindStringSubmatch(page2.Header().Get("Content-Security-Policy"))
	if m1 == nil || m2 == nil || m1[1] == m2[1] || !strings.Contains(page.Body.String(), `<meta name="style-nonce" content="`+m1[1]+`">`) {
		t.Errorf("style nonces %v and %v; the page:\n%s", m1, m2, page.Body)
	}
	etag := get(t, "/ui/app.js", nil).Header().Get("ETag")
	if w := get(t, "/ui/app.js", map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidating app.js with its ETag: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get(t, "/ui/app.js", map[string]string{"If-None-Match": `"stale"`}); w.Code != 200 {
		t.Errorf("revalidating app.js with an old ETag: %d", w.Code)
	}
}

// TestGzip checks large files go gzipped to browsers that take it, with
// their own validator, and as they are to others.
func TestGzip(t *testing.T) {
	plain := get(t, "/ui/vendor/xterm/xterm.js", nil)
	if plain.Code != 200 || plain.Header().Get("Content-Encoding") != "" || plain.Header().Get("Vary") != "Accept-Encoding" || !bytes.Equal(plain.Body.Bytes(), assets()["vendor/xterm/xterm.js"].body) {
		t.Fatalf("without gzip: %d %v, %d bytes", plain.Code, plain.Header(), plain.Body.Len())
	}
	zipped := get(t, "/ui/vendor/xterm/xterm.js", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	etag := zipped.Header().Get("ETag")
	if zipped.Header().Get("Content-Encoding") != "gzip" || etag == plain.Header().Get("ETag") || zipped.Body.Len() > plain.Body.Len()/2 {
		t.Fatalf("with gzip: %v, %d bytes", zipped.Header(), zipped.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
		t.Errorf("gunzipped: %d bytes, %v", len(b), err)
	}
	if w := get(t, "/ui/vendor/xterm/xterm.js", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag}); w.Code != http.StatusNotModified {
		t.Errorf("revalidating the gzipped file: %d", w.Code)
	}
	if w := get(t, "/ui/vendor/xterm/xterm.js", map[string]string{"Accept-Encoding": "gzip;q=0, identity"}); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip refused with q=0, but sent gzipped")
	}
	if w := get(t, "/ui/app.css", map[string]string{"Accept-Encoding": "gzip"}); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("a small file sent gzipped")
	}
}

// TestNoInlineScript checks the page has no inline script or style, which
// the Content-Security-Policy would block, and that the script never
// inserts HTML: text from the API is inserted as text only.
func TestNoInlineScript(t *testing.T) {
	page := string(assets()["index.html"].body)
	if strings.Count(page, "<script") != 1 || strings.Contains(page, "<style") || regexp.MustCompile(`\s(style|on[a-z]+)=`).MatchString(page) {
		t.Error("index.html has inline script or style")
	}
	js := string(assets()["app.js"].body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
