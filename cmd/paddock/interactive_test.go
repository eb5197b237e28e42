package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type wsMsg struct {
	Type     string `json:"type"`
	Data     string `json:"data,omitempty"`
	Cols     int    `json:"cols,omitempty"`
	Rows     int    `json:"rows,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
}

// wsSession reads an attach socket, collecting output.
type wsSession struct {
	t    *testing.T
	conn *websocket.Conn
	out  strings.Builder
	err  strings.Builder
}

func (w *wsSession) send(m wsMsg) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	if err := w.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// atPrompt reports whether a root shell's output ends at its prompt.
func atPrompt(out string) bool { return strings.HasSuffix(out, "# ") }

// until reads messages until pred holds, returning the last message.
func (w *wsSession) until(pred func(m wsMsg) bool) wsMsg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, b, err := w.conn.Read(ctx)
		if err != nil {
			w.t.Fatalf("read: %v (stdout so far %q)", err, w.out.String())
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatal(err)
		}
		switch m.Type {
		case "stdout":
			w.out.WriteString(m.Data)
		case "stderr":
			w.err.WriteString(m.Data)
		}
		if pred(m) {
			return m
		}
	}
}

// rawRequest sends head (the request line and headers, CRLF-separated)
// and then body exactly as given over a new connection, half-closes it and
// returns the response: for bodies net/http's client never sends, like
// broken chunking or a body shorter than its Content-Length.
func (s *testServer) rawRequest(t *testing.T, head, body string) *response {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := fmt.Fprintf(c, "%s\r\nHost: %s\r\nConnection: close\r\n\r\n%s", head, u.Host, body); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func dialAttach(t *testing.T, url string, opts *websocket.DialOptions) (*wsSession, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsSession{t: t, conn: c}, resp, nil
}

func TestAttach(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, tok, envSpec)
	wsURL := "ws" + strings.TrimPrefix(s.url, "http") + "/api/v1/environments/" + id + "/attach"

	t.Run("shell on a PTY with the Authorization header", func(t *testing.T) {
		w, _, err := dialAttach(t, wsURL+"?cols=100&rows=40", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		if err != nil {
			t.Fatal(err)
		}
		w.send(wsMsg{Type: "stdin", Data: "echo hi-$((1+1)); tty; stty size\n"})
		// The shell is back at its prompt before the resize: readline
		// writes the size back as it sets up a line (see the guest's
		// resize), so that is what a test can rely on.
		w.until(func(wsMsg) bool { return strings.Contains(w.out.String(), "40 100") && atPrompt(w.out.String()) })
		if !strings.Contains(w.out.String(), "hi-2") || !strings.Contains(w.out.String(), "/dev/pts/") {
			t.Errorf("output %q", w.out.String())
		}
		w.send(wsMsg{Type: "resize", Cols: 132, Rows: 50})
		w.send(wsMsg{Type: "stdin", Data: "stty size\n"})
		w.until(func(wsMsg) bool { return strings.Contains(w.out.String(), "50 132") })
		w.send(wsMsg{Type: "stdin", Data: "exit 3\n"})
		m := w.until(func(m wsMsg) bool { return m.Type == "exit" })
		if m.ExitCode == nil || *m.ExitCode != 3 {
			t.Errorf("exit message %+v", m)
		}
		_, _, err = w.conn.Read(context.Background())
		if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("after exit: %v", err)
		}
	})

	t.Run("command without a TTY, subprotocol bearer.<token>", func(t *testing.T) {
		w, resp, err := dialAttach(t, wsURL+"?tty=false&command=echo+out%3B+echo+err+>%262%3B+exit+5", &websocket.DialOptions{Subprotocols: []string{"bearer." + tok}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "bearer."+tok {
			t.Errorf("selected subprotocol %q", got)
		}
		m := w.until(func(m wsMsg) bool { return m.Type == "exit" })
		if *m.ExitCode != 5 || w.out.String() != "out\n" || w.err.String() != "err\n" {
			t.Errorf("exit %v, stdout %q, stderr %q", *m.ExitCode, w.out.String(), w.err.String())
		}
	})

	t.Run("seed 004's subprotocol pair", func(t *testing.T) {
		w, _, err := dialAttach(t, wsURL+"?command=cat", &websocket.DialOptions{Subprotocols: []string{"Authorization", "Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		w.send(wsMsg{Type: "stdin", Data: "echo-back\n"})
		w.until(func(wsMsg) bool { return strings.Count(w.out.String(), "echo-back") >= 2 }) // the PTY echoes, cat prints
	})

	t.Run("ticket", func(t *testing.T) {
		ticket := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments/" + id + "/attach-ticket", token: tok}).m(t)["ticket"].(string)
		w, _, err := dialAttach(t, wsURL+"?command=true&ticket="+ticket, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m := w.until(func(m wsMsg) bool { return m.Type == "exit" }); *m.ExitCode != 0 {
			t.Errorf("exit %d", *m.ExitCode)
		}
		if _, resp, err := dialAttach(t, wsURL+"?command=true&ticket="+ticket, nil); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("a reused ticket was accepted: %v", err)
		}
	})

	t.Run("refused without credentials or permission", func(t *testing.T) {
		if _, resp, err := dialAttach(t, wsURL, nil); err == nil || resp.StatusCode != 401 {
			t.Errorf("no credentials: %v", err)
		}
		readKey := s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: tok, body: map[string]any{
			"permissions": []map[string]string{{"environment_id": id, "permission": "read"}}}}).m(t)["key"].(string)
		if _, resp, err := dialAttach(t, wsURL, &websocket.DialOptions{Subprotocols: []string{"bearer." + readKey}}); err == nil || resp.StatusCode != 403 {
			t.Errorf("read-only key: %v", err)
		}
	})

	t.Run("closing the socket ends the process; several at once", func(t *testing.T) {
		a, _, err := dialAttach(t, wsURL+"?command=sleep+1234", &websocket.DialOptions{Subprotocols: []string{"bearer." + tok}})
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := dialAttach(t, wsURL+"?command=sleep+4321", &websocket.DialOptions{Subprotocols: []string{"bearer." + tok}})
		if err != nil {
			t.Fatal(err)
		}
		ps := func() string {
			return s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: tok,
				body: map[string]any{"command": []string{"sh", "-c", "ps -eo args"}}}).m(t)["stdout"].(string)
		}
		deadline := time.Now().Add(10 * time.Second)
		for out := ps(); !strings.Contains(out, "sleep 1234") || !strings.Contains(out, "sleep 4321"); out = ps() {
			if time.Now().After(deadline) {
				t.Fatalf("both sleeps never ran:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		a.conn.Close(websocket.StatusNormalClosure, "bye")
		for out := ps(); strings.Contains(out, "sleep 1234"); out = ps() {
			if time.Now().After(deadline) {
				t.Fatalf("closing the socket left the process:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(ps(), "sleep 4321") {
			t.Error("closing one socket ended the other's process")
		}
		b.conn.Close(websocket.StatusNormalClosure, "bye")
	})

	t.Run("not a WebSocket, an empty command, a bad resize", func(t *testing.T) {
		// A plain GET starts nothing and gets this surface's JSON error.
		r := s.do(t, req{method: "GET", path: "/api/v1/environments/" + id + "/attach?command=true", token: tok})
		if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !strings.Contains(r.message(t), "WebSocket") {
			t.Errorf("plain GET: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		bearer := &websocket.DialOptions{Subprotocols: []string{"bearer." + tok}}
		for _, q := range []string{"?command=", "?command=+", "?command=&command=x"} {
			_, resp, err := dialAttach(t, wsURL+q, bearer)
			if err == nil || resp == nil || resp.StatusCode != 400 {
				t.Errorf("%s: %v", q, err)
				continue
			}
			if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `query parameter \"command\"`) {
				t.Errorf("%s: %s", q, b)
			}
		}
		w, _, err := dialAttach(t, wsURL+"?command=cat", bearer)
		if err != nil {
			t.Fatal(err)
		}
		w.send(wsMsg{Type: "resize", Cols: -1, Rows: 99999999})
		if m := w.until(func(m wsMsg) bool { return m.Type == "error" }); m.Data != "resize: cols and rows must be between 1 and 1000, not cols=-1 rows=99999999" {
			t.Errorf("bad resize: %q", m.Data)
		}
		if err := w.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"resize","cols":"wide","rows":40}`)); err != nil {
			t.Fatal(err)
		}
		if m := w.until(func(m wsMsg) bool { return m.Type == "error" }); !strings.Contains(m.Data, `field "cols" must be an integer between 1 and 1000, not string`) {
			t.Errorf("resize with a string: %q", m.Data)
		}
		// The session goes on.
		w.send(wsMsg{Type: "stdin", Data: "still-here\n"})
		w.until(func(wsMsg) bool { return strings.Contains(w.out.String(), "still-here") })
	})

	t.Run("python websocket-client", func(t *testing.T) {
		out, err := exec.Command(pythonWith(t, "websocket"), "testdata/attach.py", wsURL, tok).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "exit 3" {
			t.Errorf("python client: %v\n%s", err, out)
		}
	})
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for i := range b[:n] {
		b[i] = byte('a' + i%26)
	}
	p.left -= n
	return int(n), nil
}

// heapWatch samples the live heap (as of each garbage collection) until
// stopped and reports its peak growth over the baseline: what the process
// holds, not the garbage it has yet to collect.
func heapWatch() (stop func() uint64) {
	runtime.GC()
	live := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := live()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if l := live(); l > base && l-base > peak.Load() {
				peak.Store(l - base)
			}
		}
	}()
	return func() uint64 { close(done); runtime.GC(); return peak.Load() }
}

func TestFiles(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, tok, withSpec(map[string]any{"resources": map[string]string{"cpu": "1", "memory": "512Mi", "storage": "2Gi"}}))
	base := "/api/v1/environments/" + id

	// Small files: up, list, down, mkdir, delete.
	r := s.expect(t, 201, req{method: "PUT", path: base + "/files?path=/work/sub/hello.txt&mode=0600", token: tok, body: "hello world\n", contentType: "application/octet-stream"}).m(t)
	if r["path"] != "/work/sub/hello.txt" || r["size"] != float64(12) {
		t.Errorf("put %v", r)
	}
	if got := string(s.expect(t, 200, req{method: "GET", path: base + "/files?path=/work/sub/hello.txt", token: tok}).body); got != "hello world\n" {
		t.Errorf("get %q", got)
	}
	var list struct {
		Path  string
		Files []map[string]any
	}
	s.expect(t, 200, req{method: "GET", path: base + "/files/list?path=/work/sub", token: tok}).json(t, &list)
	if len(list.Files) != 1 || list.Files[0]["name"] != "hello.txt" || list.Files[0]["mode"] != "-rw-------" || list.Files[0]["type"] != "file" || list.Files[0]["mtime"] == nil {
		t.Errorf("list %+v", list)
	}
	s.expect(t, 201, req{method: "POST", path: base + "/files/mkdir", token: tok, body: map[string]any{"path": "/work/a/b/c"}})
	// Stat: a file, a directory, a symlink (described, not followed), and what is not there.
	s.expect(t, 200, req{method: "POST", path: base + "/exec", token: tok, body: map[string]any{"command": []string{"ln", "-s", "sub/hello.txt", "/work/link"}}})
	for p, want := range map[string]string{"/work/sub/hello.txt": "file 12 -rw------- ", "/work/a/b": "dir drwxr-xr-x", "/work/link": "symlink 13 lrwxrwxrwx sub/hello.txt"} {
		fi := s.expect(t, 200, req{method: "GET", path: base + "/files/stat?path=" + p, token: tok}).m(t)
		target, _ := fi["link_target"].(string)
		got := fmt.Sprintf("%v %v %v %s", fi["type"], fi["size"], fi["mode"], target)
		if fi["type"] == "dir" {
			got = fmt.Sprintf("dir %v", fi["mode"])
		}
		if got != want || fi["path"] != p || fi["mtime"] == nil {
			t.Errorf("stat %s: %v, want %s", p, fi, want)
		}
	}
	s.expect(t, 404, req{method: "GET", path: base + "/files/stat?path=/work/nope", token: tok})
	s.expect(t, 400, req{method: "GET", path: base + "/files/stat", token: tok})
	if out := s.expect(t, 200, req{method: "POST", path: base + "/exec", token: tok, body: map[string]any{"command": []string{"sh", "-c", "test -d /work/a/b/c && cat /work/sub/hello.txt"}}}).m(t); out["stdout"] != "hello world\n" {
		t.Errorf("seen by exec: %v", out)
	}
	s.expect(t, 404, req{method: "GET", path: base + "/files?path=/nope", token: tok})
	// A file made as it is read (size 0) comes whole.
	if got := string(s.expect(t, 200, req{method: "GET", path: base + "/files?path=/proc/meminfo", token: tok}).body); !strings.Contains(got, "MemTotal:") {
		t.Errorf("/proc/meminfo: %q", got)
	}
	s.expect(t, 400, req{method: "GET", path: base + "/files", token: tok})
	s.expect(t, 400, req{method: "DELETE", path: base + "/files?path=/work/a", token: tok}) // a directory needs recursive=true
	s.expect(t, 204, req{method: "DELETE", path: base + "/files?path=/work/a&recursive=true", token: tok})
	s.expect(t, 404, req{method: "GET", path: base + "/files/list?path=/work/a", token: tok})

	// Archive round trip.
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for name, body := range map[string]string{"proj/main.py": "print('hi')\n", "proj/pkg/util.py": "X = 1\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.WriteHeader(&tar.Header{Name: "proj/link", Typeflag: tar.TypeSymlink, Linkname: "main.py"})
	tw.Close()
	s.expect(t, 200, req{method: "PUT", path: base + "/files/archive?path=/srv", token: tok, body: tarBuf.Bytes(), contentType: "application/x-tar"})
	if out := s.expect(t, 200, req{method: "POST", path: base + "/exec", token: tok, body: map[string]any{"command": []string{"sh", "-c", "cd /srv/proj && python3 main.py && cat pkg/util.py && readlink link"}}}).m(t); out["stdout"] != "hi\nX = 1\nmain.py\n" {
		t.Errorf("extracted tree: %v", out)
	}
	back := s.expect(t, 200, req{method: "GET", path: base + "/files/archive?path=/srv/proj", token: tok}).body
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(back))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}
	for _, n := range []string{"main.py", "pkg/util.py", "link"} {
		found := false
		for got := range names {
			if strings.HasSuffix(got, n) {
				found = true
			}
		}
		if !found {
			t.Errorf("archive lacks %s: %v", n, names)
		}
	}

	// Escapes are refused: a tar entry climbing out, a symlink then a file through it.
	for _, entries := range [][]tar.Header{
		{{Name: "../../etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		{{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, {Name: "out/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range entries {
			h := h
			tw.WriteHeader(&h)
		}
		tw.Close()
		r := s.do(t, req{method: "PUT", path: base + "/files/archive?path=/srv/x", token: tok, body: b.Bytes(), contentType: "application/x-tar"})
		if r.status != 400 {
			t.Errorf("escaping archive %v: %d %s", entries[0].Name, r.status, r.body)
		}
	}
	if out := s.expect(t, 200, req{method: "POST", path: base + "/exec", token: tok, body: map[string]any{"command": []string{"sh", "-c", "ls /etc/evil 2>&1 || true"}}}).m(t); !strings.Contains(out["stdout"].(string), "No such file") {
		t.Errorf("an escape wrote /etc/evil: %v", out)
	}

	// Entries not extracted (a device) are named, and an empty result is [].
	var devTar bytes.Buffer
	tw = tar.NewWriter(&devTar)
	tw.WriteHeader(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})
	tw.Close()
	var extracted struct {
		Files   []any    `json:"files"`
		Skipped []string `json:"skipped"`
	}
	er := s.expect(t, 200, req{method: "PUT", path: base + "/files/archive?path=/srv/devs", token: tok, body: devTar.Bytes(), contentType: "application/x-tar"})
	er.json(t, &extracted)
	if extracted.Files == nil || len(extracted.Files) != 0 || len(extracted.Skipped) != 1 || extracted.Skipped[0] != "dev/null" {
		t.Errorf("a tar of a device: %s", er.body)
	}

	// A body that breaks off is the client's fault (400), and writes nothing.
	auth := "\r\nAuthorization: Bearer " + tok
	for _, tc := range []struct{ head, body string }{
		{"PUT " + base + "/files?path=/work/broken.txt HTTP/1.1" + auth + "\r\nTransfer-Encoding: chunked", "5\r\nhello\r\nZZ\r\n"},
		{"PUT " + base + "/files?path=/work/broken.txt HTTP/1.1" + auth + "\r\nContent-Length: 100", "cut short"},
		{"PUT " + base + "/files/archive?path=/work/broken HTTP/1.1" + auth + "\r\nTransfer-Encoding: chunked", "5\r\nhello\r\nZZ\r\n"},
		{"PUT " + base + "/files/archive?path=/work/broken HTTP/1.1" + auth + "\r\nContent-Length: 10240", string(tarBuf.Bytes()[:1000])},
	} {
		r := s.rawRequest(t, tc.head, tc.body)
		if r.status != 400 || !strings.Contains(r.message(t), "reading the request body") {
			t.Errorf("%s: %d %s", strings.SplitN(tc.head, "\r\n", 2)[0], r.status, r.body)
		}
	}
	s.expect(t, 404, req{method: "GET", path: base + "/files?path=/work/broken.txt", token: tok})

	// 200 MiB up and down, streamed: the server's heap grows by a small constant.
	const size = 200 << 20
	stop := heapWatch()
	hr, _ := http.NewRequest("PUT", s.url+base+"/files?path=/big.bin", &patternReader{left: size})
	hr.ContentLength = size
	hr.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	gr, _ := http.NewRequest("GET", s.url+base+"/files?path=/big.bin", nil)
	gr.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(gr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	growth := stop()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	t.Logf("200 MiB up and down: heap grew by at most %.1f MiB", float64(growth)/(1<<20))
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB moving a 200 MiB file", growth>>20)
	}
}

// TestAttachGVisor drives a shell over the WebSocket under gVisor, from Go
// and from Python's websocket-client.
func TestAttachGVisor(t *testing.T) {
	t.Parallel()
	requireSandbox(t, "runsc")
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, tok, withSpec(map[string]any{"isolation": map[string]any{"runtime_class": "gvisor"}}))
	wsURL := "ws" + strings.TrimPrefix(s.url, "http") + "/api/v1/environments/" + id + "/attach"

	w, _, err := dialAttach(t, wsURL+"?cols=90&rows=30", &websocket.DialOptions{Subprotocols: []string{"bearer." + tok}})
	if err != nil {
		t.Fatal(err)
	}
	w.send(wsMsg{Type: "stdin", Data: "uname -r; echo hi-$((2+3))\n"})
	w.until(func(wsMsg) bool { return strings.Contains(w.out.String(), "hi-5") && atPrompt(w.out.String()) })
	if !strings.Contains(w.out.String(), "4.4.0") {
		t.Errorf("not the gVisor kernel: %q", w.out.String())
	}
	w.send(wsMsg{Type: "resize", Cols: 100, Rows: 40})
	w.send(wsMsg{Type: "stdin", Data: "stty size; exit 4\n"})
	m := w.until(func(m wsMsg) bool { return m.Type == "exit" })
	if m.ExitCode == nil || *m.ExitCode != 4 || !strings.Contains(w.out.String(), "40 100") {
		t.Errorf("exit %+v, output %q", m, w.out.String())
	}

	out, err := exec.Command(pythonWith(t, "websocket"), "testdata/attach.py", wsURL, tok).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "exit 3" {
		t.Errorf("python client under gVisor: %v\n%s", err, out)
	}
}
