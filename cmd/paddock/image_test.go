package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImagesAPI checks the images routes: pulls through the mirror (admin
// only, with SSE progress), import of a docker save archive (admin only;
// a broken body is a 400), listing, and removal and replacement refused
// while an environment uses the image.
func TestImagesAPI(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "imgs")

	// Pull: admin only; with Accept: text/event-stream, progress then the image.
	s.expect(t, 403, req{method: "POST", path: "/api/v1/images", token: user, body: map[string]string{"action": "pull", "name": "python:3.11-slim"}})
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "python:3.11-slim"},
		header: map[string]string{"Accept": "text/event-stream"}})
	if body := string(r.body); !strings.Contains(body, "event: progress") || !strings.Contains(body, "event: image") || !strings.Contains(body, `"name":"python:3.11-slim"`) {
		t.Errorf("pull stream:\n%.2000s", body)
	}
	if r := s.expect(t, 201, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "python:3.11-slim"}}).m(t); !strings.HasPrefix(r["digest"].(string), "sha256:") {
		t.Errorf("pull: %v", r)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "steal", "name": "x"}})
	if r := s.do(t, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "Not A Ref!"}}); r.status != 400 {
		t.Errorf("bad reference: %d %s", r.status, r.body)
	}

	// Import a docker save archive: admin only too, since what it stores
	// under a name is what every later environment of that name runs.
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := tarball.Write(name.MustParseReference("example.com/tools:1"), img, &archive); err != nil {
		t.Fatal(err)
	}
	s.expect(t, 403, req{method: "POST", path: "/api/v1/images/import?name=python:3.11-slim", token: user, body: archive.Bytes(), contentType: "application/x-tar"})
	if r := s.expect(t, 201, req{method: "POST", path: "/api/v1/images/import?name=tools:1", token: admin, body: archive.Bytes(), contentType: "application/x-tar"}).m(t); r["name"] != "tools:1" || r["source"] != "import" {
		t.Errorf("import: %v", r)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/images/import?name=junk:1", token: admin, body: "not a tar", contentType: "application/x-tar"})
	// With progress, the archive keeps coming in while the events go
	// out: all 12 MiB of it, sent chunked, as paddock image import sends
	// a file.
	big, err := random.Image(4<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	var bigArchive bytes.Buffer
	if err := tarball.Write(name.MustParseReference("example.com/big:1"), big, &bigArchive); err != nil {
		t.Fatal(err)
	}
	r = s.expect(t, 200, req{method: "POST", path: "/api/v1/images/import?name=big:1", token: admin, body: io.MultiReader(&bigArchive), contentType: "application/x-tar",
		header: map[string]string{"Accept": "text/event-stream"}})
	if body := string(r.body); !strings.Contains(body, "event: progress") || !strings.Contains(body, "event: image") || !strings.Contains(body, `"name":"big:1"`) {
		t.Errorf("import stream:\n%.2000s", body)
	}
	// An archive that breaks off is the client's fault.
	for _, tc := range []struct{ framing, body string }{
		{"Transfer-Encoding: chunked", "5\r\nhello\r\nZZ\r\n"},
		{fmt.Sprintf("Content-Length: %d", archive.Len()), archive.String()[:archive.Len()/2]},
	} {
		r := s.rawRequest(t, "POST /api/v1/images/import?name=junk:2 HTTP/1.1\r\nAuthorization: Bearer "+admin+"\r\nContent-Type: application/x-tar\r\n"+tc.framing, tc.body)
		if r.status != 400 || !strings.Contains(r.message(t), "reading the request body") {
			t.Errorf("import of a broken body (%s): %d %s", tc.framing, r.status, r.body)
		}
	}
	list := string(s.expect(t, 200, req{method: "GET", path: "/api/v1/images", token: user}).body)
	if !strings.Contains(list, `"python:3.11-slim"`) || !strings.Contains(list, `"tools:1"`) || strings.Contains(list, "junk") {
		t.Errorf("list: %s", list)
	}

	// Removal: admin only, refused while an environment uses the image.
	id := s.createRunning(t, admin, envSpec)
	s.expect(t, 403, req{method: "DELETE", path: "/api/v1/images/tools:1", token: user})
	r = s.expect(t, 409, req{method: "DELETE", path: "/api/v1/images/python:3.11-slim", token: admin})
	if !strings.Contains(r.message(t), id) {
		t.Errorf("delete in use: %s", r.message(t))
	}
	// Replacing it is refused as well: the environment keeps its root file
	// system, and new environments get what they got before.
	python := s.expect(t, 200, req{method: "GET", path: "/api/v1/images", token: admin}).body
	r = s.expect(t, 409, req{method: "POST", path: "/api/v1/images/import?name=python:3.11-slim", token: admin, body: archive.Bytes(), contentType: "application/x-tar"})
	if !strings.Contains(r.message(t), "python:3.11-slim cannot be replaced while 1 environment uses it ("+id+")") {
		t.Errorf("replace in use: %s", r.message(t))
	}
	if got := s.expect(t, 200, req{method: "GET", path: "/api/v1/images", token: admin}).body; !bytes.Equal(got, python) {
		t.Errorf("images after a refused replace:\n%s\nwant\n%s", got, python)
	}
	if out := s.execOK(t, admin, id, "python3", "-c", "print(6*7)"); out != "42\n" {
		t.Errorf("the environment after a refused replace: %q", out)
	}
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/images/tools:1", token: admin})
	s.expect(t, 404, req{method: "DELETE", path: "/api/v1/images/tools:1", token: admin})
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=true", token: admin})
	// Once nothing runs on it, it may be replaced.
	s.expect(t, 201, req{method: "POST", path: "/api/v1/images/import?name=python:3.11-slim", token: admin, body: archive.Bytes(), contentType: "application/x-tar"})
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/images/python:3.11-slim", token: admin})
}
