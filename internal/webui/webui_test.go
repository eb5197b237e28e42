package webui

import (
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
		if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, w.Header())
		}
	}
	page := get(t, "/ui/", nil)
	if !strings.Contains(page.Body.String(), `<script type="module" src="/ui/app.js">`) {
		t.Errorf("the page does not load the script:\n%s", page.Body)
	}
	etag := get(t, "/ui/app.js", nil).Header().Get("ETag")
	if w := get(t, "/ui/app.js", map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidating app.js with its ETag: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get(t, "/ui/app.js", map[string]string{"If-None-Match": `"stale"`}); w.Code != 200 {
		t.Errorf("revalidating app.js with an old ETag: %d", w.Code)
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
