package main

import (
	"strings"
	"testing"
)

// TestSnapshot saves a running environment as an image and starts another
// environment from it: the files, their ownership, modes and links come
// along, and the image's process defaults are its base image's; the
// errors name what is wrong.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "snapper")
	id := s.createRunning(t, admin, withSpec(map[string]any{"env": map[string]string{"SECRET_TOKEN": "do-not-bake"}}))
	s.execOK(t, admin, id, "sh", "-c", `set -e
mkdir -p /opt/app/data
echo 'print("from the snapshot")' > /opt/app/main.py
echo private > /opt/app/data/owned.txt
chown 1000:1001 /opt/app/data/owned.txt
chmod 0640 /opt/app/data/owned.txt
ln -s main.py /opt/app/link.py
rm /etc/issue.net`)
	base := "/api/v1/environments/" + id + "/snapshot"

	// Errors first.
	s.expect(t, 403, req{method: "POST", path: base, token: user, body: map[string]string{"image": "snap:1"}})
	s.expect(t, 404, req{method: "POST", path: "/api/v1/environments/env-nosuchthing0/snapshot", token: admin, body: map[string]string{"image": "snap:1"}})
	for body, want := range map[string]string{
		`{}`:                     `field \"image\" is required`,
		`{"image": "Bad Name!"}`: "Bad Name!",
		`{"image": 7}`:           "image",
		`not json`:               "JSON",
	} {
		r := s.do(t, req{method: "POST", path: base, token: admin, body: body, contentType: "application/json"})
		if r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("snapshot with %s: %d %s, want 400 naming %q", body, r.status, r.body, want)
		}
	}

	img := s.expect(t, 201, req{method: "POST", path: base, token: admin, body: map[string]string{"image": "snap:1"}}).m(t)
	if img["name"] != "snap:1" || img["source"] != "snapshot" || !strings.HasPrefix(img["digest"].(string), "sha256:") {
		t.Fatalf("snapshot answered %v", img)
	}
	if list := string(s.expect(t, 200, req{method: "GET", path: "/api/v1/images", token: user}).body); !strings.Contains(list, `"snap:1"`) {
		t.Errorf("the image list lacks the snapshot: %s", list)
	}

	// An environment of the snapshot has the files as they were.
	id2 := s.createRunning(t, admin, withSpec(map[string]any{"image": "snap:1"}))
	got := s.execOK(t, admin, id2, "sh", "-c", `python3 /opt/app/link.py
stat -c '%u:%g %a' /opt/app/data/owned.txt
readlink /opt/app/link.py
test -e /etc/issue.net && echo issue.net is back || echo issue.net stays removed
echo "secret=${SECRET_TOKEN:-none}"`)
	want := "from the snapshot\n1000:1001 640\nmain.py\nissue.net stays removed\nsecret=none\n"
	if got != want {
		t.Errorf("in an environment of the snapshot:\n%s\nwant:\n%s", got, want)
	}
	// An image environments use cannot be replaced.
	r := s.do(t, req{method: "POST", path: "/api/v1/environments/" + id2 + "/snapshot", token: admin, body: map[string]string{"image": "snap:1"}})
	if r.status != 409 {
		t.Errorf("replacing an image in use: %d %s", r.status, r.body)
	}
}
