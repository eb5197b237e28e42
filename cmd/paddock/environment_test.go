package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/paddockhq/paddock/internal/image/imagetest"
)

// requireSandbox skips tests that create real environments where they
// cannot run: they need root and runc.
func requireSandbox(t testing.TB, binaries ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("environments need root")
	}
	for _, b := range append([]string{"runc"}, binaries...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("environments need %s", b)
		}
	}
}

var (
	registryOnce sync.Once
	registryURL  string
	registryErr  error
)

// testRegistry serves the test Python image as docker.io's
// library/python:3.11-slim from an in-process registry, for use as the
// docker.io mirror. It lives as long as the test binary.
func testRegistry(t testing.TB) string {
	t.Helper()
	registryOnce.Do(func() {
		img := imagetest.PythonImage(t)
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		host := strings.TrimPrefix(srv.URL, "http://")
		ref, err := name.ParseReference(host+"/library/python:3.11-slim", name.Insecure)
		if err != nil {
			registryErr = err
			return
		}
		registryErr = remote.Write(ref, img)
		registryURL = srv.URL
	})
	if registryErr != nil {
		t.Fatalf("test registry: %v", registryErr)
	}
	return registryURL
}

// startSandboxServer starts Paddock with python:3.11-slim served by the
// test registry.
func startSandboxServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	requireSandbox(t)
	mirror := testRegistry(t)
	return startServer(t, func(c *Config) {
		c.Images.Mirrors = map[string]string{"docker.io": mirror}
		c.RateLimits.Exec = 10000
		c.RateLimits.EnvironmentCreate = 1000
		if edit != nil {
			edit(c)
		}
	})
}

var envSpec = map[string]any{
	"name": "python-sandbox", "image": "python:3.11-slim",
	"resources": map[string]string{"cpu": "500m", "memory": "512Mi", "storage": "1Gi"},
}

func withSpec(extra map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range envSpec {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// createRunning creates an environment and waits until it runs.
func (s *testServer) createRunning(t *testing.T, token string, spec map[string]any) string {
	t.Helper()
	id := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments", token: token, body: spec}).m(t)["id"].(string)
	s.waitStatus(t, token, id, "running")
	return id
}

// waitStatus polls an environment until it has status want.
func (s *testServer) waitStatus(t *testing.T, token, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		e := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id, token: token}).m(t)
		if e["status"] == want {
			return e
		}
		if e["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("environment %s: status %v (reason %v), want %s", id, e["status"], e["reason"], want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSeed004Workflow runs seed 004's "Complete Workflow Example" script,
// changed only in its server URL, its token and the numpy command (the
// machine has no internet for pip; plain python replaces numpy).
func TestSeed004Workflow(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("the seed script needs %s", b)
		}
	}
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	cmd := exec.Command("bash", "testdata/seed004_workflow.sh")
	cmd.Env = append(os.Environ(), "PADDOCK_URL="+s.url, "PADDOCK_TOKEN="+tok)
	out, err := cmd.CombinedOutput()
	t.Logf("script output:\n%s", out)
	if err != nil {
		t.Fatalf("script failed: %v", err)
	}
	text := string(out)
	m := regexp.MustCompile(`Created environment: (env-[a-z0-9]+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no environment id in the output")
	}
	for _, want := range []string{"Environment is running!", `"stdout": "Array mean: 3\n"`, `"exit_code": 0`, `"logs": [`, "Done!"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// pip has no internet here: its failure is reported, and the script went on.
	if !strings.Contains(text, `"exit_code": 1`) {
		t.Errorf("the offline pip install did not report a failure")
	}
	e := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + m[1], token: tok}).m(t)
	if e["status"] != "terminated" {
		t.Errorf("after the script the environment is %v", e["status"])
	}
}

func TestEnvironmentAPI(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	alice := s.createUser(t, admin, "alice")
	bob := s.createUser(t, admin, "bob")

	spec := withSpec(map[string]any{
		"name": "my-python-env", "timeout": 1800,
		"env":     map[string]string{"MY_VAR": "my-value"},
		"labels":  map[string]string{"project": "my-project", "tier": "web"},
		"command": []string{"sh", "-c", "echo Starting application...; echo Ready to accept connections; echo oops >&2; sleep infinity"},
	})
	created := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments", token: alice, body: spec}).m(t)
	id := created["id"].(string)
	if created["status"] != "pending" || created["namespace"] != "paddock-"+id || created["image"] != "python:3.11-slim" {
		t.Errorf("created %v", created)
	}
	e := s.waitStatus(t, alice, id, "running")
	if e["started_at"] == nil || e["env"].(map[string]any)["MY_VAR"] != "my-value" || e["labels"].(map[string]any)["project"] != "my-project" {
		t.Errorf("running environment %v", e)
	}
	metrics, _ := e["metrics"].(map[string]any)
	if !regexp.MustCompile(`^\d+m$`).MatchString(metrics["cpu_usage"].(string)) || !regexp.MustCompile(`^\d+(Ki|Mi|Gi)?$`).MatchString(metrics["memory_usage"].(string)) {
		t.Errorf("metrics %v", metrics)
	}

	t.Run("exec", func(t *testing.T) {
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"python", "-c", `print("Hello, World!")`}, "timeout": 30}}).m(t)
		if r["stdout"] != "Hello, World!\n" || r["stderr"] != "" || r["exit_code"] != float64(0) || r["duration_ms"] == nil {
			t.Errorf("exec %v", r)
		}
		r = s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"sh", "-c", "echo $MY_VAR; echo err >&2; exit 7"}}}).m(t)
		if r["stdout"] != "my-value\n" || r["stderr"] != "err\n" || r["exit_code"] != float64(7) {
			t.Errorf("exec %v", r)
		}
		// The seed's heredoc example, then running the file.
		s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"sh", "-c", "cat > /tmp/script.py << EOF\nimport sys\nprint(f\"Python {sys.version}\")\nEOF"}}})
		r = s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"python", "/tmp/script.py"}}}).m(t)
		if !strings.HasPrefix(r["stdout"].(string), "Python 3.") {
			t.Errorf("script: %v", r)
		}
		r = s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"sleep", "30"}, "timeout": 1}}).m(t)
		if r["timed_out"] != true {
			t.Errorf("timeout: %v", r)
		}
		r = s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
			body: map[string]any{"command": []string{"no-such-program"}}}).m(t)
		if r["exit_code"] != float64(127) {
			t.Errorf("missing program: %v", r)
		}
		for _, tc := range []struct {
			body any
			msg  string
		}{
			{map[string]any{}, `"command" is required`},
			{map[string]any{"command": "ls"}, `field "command" must be an array`},
			{map[string]any{"command": []string{"ls"}, "timeout": 0}, `"timeout" must be between 1`},
			// Variables no process can be given, as create refuses them.
			{map[string]any{"command": []string{"sh", "-c", "echo A=$A"}, "env": map[string]string{"A=B": "x"}}, `field "env" has an invalid variable name "A=B"`},
			{map[string]any{"command": []string{"sh", "-c", "echo A=$A"}, "env": map[string]string{"": "y"}}, `field "env" has an invalid variable name ""`},
		} {
			r := s.expect(t, 400, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice, body: tc.body})
			if !strings.Contains(r.message(t), tc.msg) {
				t.Errorf("%v: %q, want %q", tc.body, r.message(t), tc.msg)
			}
		}
	})

	t.Run("exec streamed", func(t *testing.T) {
		// The command waits for a file the test writes only once the first
		// line has arrived: the output streams, it is not sent at the end.
		// The second write cuts "é" in two; it arrives whole.
		body := `{"command":["sh","-c","echo first; while [ ! -e /tmp/go-on ]; do sleep 0.05; done; printf '\\303'; sleep 0.2; printf '\\251\\n'; echo oops >&2; exit 3"]}`
		hr, _ := http.NewRequest("POST", s.url+"/api/v1/environments/"+id+"/exec", strings.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+alice)
		hr.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("streamed exec: %s %v", resp.Status, resp.Header)
		}
		var got []string
		sc := bufio.NewScanner(resp.Body)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var d struct {
					Data     string `json:"data"`
					ExitCode *int   `json:"exit_code"`
				}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
					t.Fatal(err)
				}
				if name == "exit" && d.ExitCode != nil {
					got = append(got, fmt.Sprintf("exit %d", *d.ExitCode))
				} else {
					got = append(got, name+" "+d.Data)
				}
				if d.Data == "first\n" {
					s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice,
						body: map[string]any{"command": []string{"touch", "/tmp/go-on"}}})
				}
			}
		}
		// stdout and stderr are two pipes: their events may interleave
		// either way, each stream's events come in order, exit comes last.
		var stdout, stderr string
		for _, e := range got {
			if s, ok := strings.CutPrefix(e, "stdout "); ok {
				stdout += s
			} else if s, ok := strings.CutPrefix(e, "stderr "); ok {
				stderr += s
			}
		}
		if len(got) < 4 || got[0] != "stdout first\n" || got[len(got)-1] != "exit 3" || stdout != "first\né\n" || stderr != "oops\n" {
			t.Errorf("events %q", got)
		}
		// What fails before the command starts is an ordinary error answer.
		hr, _ = http.NewRequest("POST", s.url+"/api/v1/environments/"+id+"/exec", strings.NewReader(`{}`))
		hr.Header.Set("Authorization", "Bearer "+alice)
		hr.Header.Set("Accept", "text/event-stream")
		if resp, err := http.DefaultClient.Do(hr); err != nil || resp.StatusCode != 400 {
			t.Errorf("streamed exec without a command: %v %v", resp.Status, err)
		} else {
			resp.Body.Close()
		}
	})

	t.Run("background processes", func(t *testing.T) {
		execPath := "/api/v1/environments/" + id + "/exec"
		procs := "/api/v1/environments/" + id + "/processes/"
		var p struct {
			PID      string `json:"pid"`
			Status   string `json:"status"`
			ExitCode *int   `json:"exit_code"`
			TimedOut bool   `json:"timed_out"`
		}
		s.expect(t, 202, req{method: "POST", path: execPath, token: alice, body: map[string]any{
			"command": []string{"sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo err >&2; exit 2"}, "background": true}}).json(t, &p)
		if !strings.HasPrefix(p.PID, "proc-") || p.Status != "running" {
			t.Fatalf("background exec answered %+v", p)
		}
		// Follow it to its end over SSE.
		hr, _ := http.NewRequest("GET", s.url+procs+p.PID+"/output?follow=true", nil)
		hr.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		streams := map[string]string{}
		name, exit := "", ""
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				if name == "exit" {
					exit = v
					continue
				}
				var d struct{ Data string }
				json.Unmarshal([]byte(v), &d)
				streams[name] += d.Data
			}
		}
		resp.Body.Close()
		if streams["stdout"] != "line1\nline2\nline3\n" || streams["stderr"] != "err\n" || !strings.Contains(exit, `"status":"exited"`) || !strings.Contains(exit, `"exit_code":2`) {
			t.Errorf("followed output %q, exit %s", streams, exit)
		}
		// Replay, from the start and from an offset.
		var out struct {
			Output []struct {
				Offset       int64
				Stream, Data string
			}
			Next    int64
			Process struct{ Status string }
		}
		s.expect(t, 200, req{method: "GET", path: procs + p.PID + "/output", token: alice}).json(t, &out)
		all := ""
		for _, c := range out.Output {
			all += c.Data
		}
		if out.Next != 22 || len(all) != 22 || out.Process.Status != "exited" {
			t.Errorf("replay %+v", out)
		}
		s.expect(t, 200, req{method: "GET", path: procs + p.PID + "/output?since=22", token: alice}).json(t, &out)
		if len(out.Output) != 0 || out.Next != 22 {
			t.Errorf("replay from the end %+v", out)
		}
		s.expect(t, 200, req{method: "GET", path: procs + p.PID, token: alice}).json(t, &p)
		if p.Status != "exited" || p.ExitCode == nil || *p.ExitCode != 2 {
			t.Errorf("process %+v", p)
		}
		// Kill one; a timeout ends another.
		var long, timed struct{ PID string }
		s.expect(t, 202, req{method: "POST", path: execPath, token: alice, body: map[string]any{"command": []string{"sleep", "300"}, "background": true}}).json(t, &long)
		s.expect(t, 202, req{method: "POST", path: execPath, token: alice, body: map[string]any{"command": []string{"sleep", "300"}, "background": true, "timeout": 1}}).json(t, &timed)
		s.expect(t, 200, req{method: "POST", path: procs + long.PID + "/kill", token: alice})
		deadline := time.Now().Add(30 * time.Second)
		for {
			var k, tm struct {
				Status   string
				TimedOut bool `json:"timed_out"`
			}
			s.expect(t, 200, req{method: "GET", path: procs + long.PID, token: alice}).json(t, &k)
			s.expect(t, 200, req{method: "GET", path: procs + timed.PID, token: alice}).json(t, &tm)
			if k.Status == "killed" && tm.Status == "exited" && tm.TimedOut {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("killed process %+v, timed out process %+v", k, tm)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var list struct{ Processes []struct{ PID string } }
		s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id + "/processes", token: alice}).json(t, &list)
		if len(list.Processes) != 3 || list.Processes[0].PID != timed.PID || list.Processes[2].PID != p.PID {
			t.Errorf("process list %+v", list)
		}
		// Errors.
		s.expect(t, 404, req{method: "GET", path: procs + "proc-nosuch", token: alice})
		s.expect(t, 400, req{method: "GET", path: procs + p.PID + "/output?since=-1", token: alice})
		s.expect(t, 404, req{method: "GET", path: procs + p.PID, token: bob})
		s.expect(t, 404, req{method: "POST", path: procs + long.PID + "/kill", token: bob})
	})

	t.Run("logs", func(t *testing.T) {
		var logs struct {
			Logs []struct {
				Timestamp *time.Time `json:"timestamp"`
				Stream    string     `json:"stream"`
				Message   string     `json:"message"`
			} `json:"logs"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id + "/logs?tail=100&timestamps=true", token: alice}).json(t, &logs)
			text := ""
			for _, l := range logs.Logs {
				text += l.Stream + ":" + l.Message + "\n"
			}
			if strings.Contains(text, "stdout:Starting application...") && strings.Contains(text, "stdout:Ready to accept connections") && strings.Contains(text, "stderr:oops") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("logs %s", text)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if logs.Logs[0].Timestamp == nil {
			t.Error("timestamps=true gave no timestamp")
		}
		var last struct{ Logs []map[string]any }
		s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id + "/logs?tail=1&timestamps=false", token: alice}).json(t, &last)
		if len(last.Logs) != 1 || last.Logs[0]["timestamp"] != nil {
			t.Errorf("tail=1 timestamps=false: %v", last.Logs)
		}
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments/" + id + "/logs?tail=-1", token: alice})
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments/" + id + "/logs?follow=maybe", token: alice})
	})

	t.Run("follow logs over SSE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/environments/"+id+"/logs?follow=true&tail=10", nil)
		r.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
			t.Errorf("SSE headers %v", resp.Header)
		}
		// A line written after the stream started arrives on it.
		go func() {
			r, _ := http.NewRequest("POST", s.url+"/api/v1/environments/"+id+"/exec",
				strings.NewReader(`{"command":["sh","-c","echo followed-line > /proc/1/fd/1"]}`))
			r.Header.Set("Authorization", "Bearer "+alice)
			if resp, err := http.DefaultClient.Do(r); err == nil {
				resp.Body.Close()
			}
		}()
		sc := bufio.NewScanner(resp.Body)
		seen := 0
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			if !strings.HasPrefix(line, "data: ") {
				t.Fatalf("SSE line %q", line)
			}
			var entry map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &entry); err != nil {
				t.Fatal(err)
			}
			seen++
			if entry["timestamp"] == nil || entry["stream"] == nil {
				t.Errorf("entry %v", entry)
			}
			if seen >= 3 { // the tail arrived; the stream stays open for new lines
				break
			}
		}
		if seen < 3 {
			t.Fatalf("only %d SSE entries: %v", seen, sc.Err())
		}
	})

	t.Run("list and filters", func(t *testing.T) {
		other := s.createRunning(t, alice, withSpec(map[string]any{"name": "other", "labels": map[string]string{"project": "x"}}))
		bobs := s.createRunning(t, bob, withSpec(map[string]any{"name": "bobs"}))
		list := func(token, query string) (ids []string, total float64) {
			var v struct {
				Environments []map[string]any `json:"environments"`
				Total        float64          `json:"total"`
				Limit        float64          `json:"limit"`
			}
			s.expect(t, 200, req{method: "GET", path: "/api/v1/environments" + query, token: token}).json(t, &v)
			for _, e := range v.Environments {
				ids = append(ids, e["id"].(string))
			}
			return ids, v.Total
		}
		if ids, total := list(alice, "?status=running&limit=10&offset=0"); total != 2 || len(ids) != 2 {
			t.Errorf("alice's running: %v (total %v)", ids, total)
		}
		if ids, total := list(alice, "?status=failed,running"); total != 2 || len(ids) != 2 {
			t.Errorf("alice's failed or running: %v (total %v)", ids, total)
		}
		if ids, total := list(alice, "?status=failed,terminated"); total != 0 || len(ids) != 0 {
			t.Errorf("alice's failed or terminated: %v (total %v)", ids, total)
		}
		if ids, _ := list(alice, "?label=project%3Dmy-project"); len(ids) != 1 || ids[0] != id {
			t.Errorf("label project=my-project: %v", ids)
		}
		if ids, _ := list(alice, "?label=project!%3Dmy-project"); len(ids) != 1 || ids[0] != other {
			t.Errorf("label project!=my-project: %v", ids)
		}
		if ids, total := list(alice, "?limit=1&offset=1"); len(ids) != 1 || total != 2 {
			t.Errorf("page 2: %v (total %v)", ids, total)
		}
		if ids, _ := list(admin, ""); len(ids) < 3 {
			t.Errorf("admin sees %v", ids)
		}
		// Another user's environment does not exist for alice.
		s.expect(t, 404, req{method: "GET", path: "/api/v1/environments/" + bobs, token: alice})
		s.expect(t, 404, req{method: "POST", path: "/api/v1/environments/" + bobs + "/exec", token: alice, body: map[string]any{"command": []string{"true"}}})
		s.expect(t, 404, req{method: "DELETE", path: "/api/v1/environments/" + bobs, token: alice})
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments?status=sleeping", token: alice})
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments?status=running,sleeping", token: alice})
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments?label=noequals", token: alice})
		s.expect(t, 400, req{method: "GET", path: "/api/v1/environments?limit=0", token: alice})
		s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + other + "?force=true", token: alice})
		s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + bobs, token: admin})
	})

	t.Run("API key permissions", func(t *testing.T) {
		key := func(perm string) string {
			return s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: alice, body: map[string]any{
				"permissions": []map[string]string{{"environment_id": id, "permission": perm}}}}).m(t)["key"].(string)
		}
		read, write := key("read"), key("write")
		ids := func(token string) int {
			var v struct{ Environments []any }
			s.expect(t, 200, req{method: "GET", path: "/api/v1/environments", token: token}).json(t, &v)
			return len(v.Environments)
		}
		if n := ids(read); n != 1 {
			t.Errorf("a key for one environment lists %d", n)
		}
		s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id, token: read})
		s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id + "/logs", token: read})
		r := s.expect(t, 403, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: read, body: map[string]any{"command": []string{"true"}}})
		if !strings.Contains(r.message(t), "read permission") {
			t.Errorf("read key exec: %s", r.message(t))
		}
		s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: write, body: map[string]any{"command": []string{"true"}}})
		s.expect(t, 403, req{method: "DELETE", path: "/api/v1/environments/" + id, token: write})
		s.expect(t, 403, req{method: "POST", path: "/api/v1/environments", token: write, body: envSpec})
		// An environment the key does not list does not exist for it.
		another := s.createRunning(t, alice, withSpec(map[string]any{"name": "unlisted"}))
		s.expect(t, 404, req{method: "GET", path: "/api/v1/environments/" + another, token: write})
		s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + another, token: alice})
	})

	t.Run("create validation", func(t *testing.T) {
		for _, tc := range []struct {
			body   any
			status int
			msg    string
		}{
			{withSpec(map[string]any{"isolation": map[string]any{"runtime_class": "kata"}}), 400, `runtime_class "kata" is not supported; supported: runc, gvisor`},
			{map[string]any{"name": "x", "image": "python:3.11-slim"}, 400, `"resources" is required`},
			{withSpec(map[string]any{"resources": map[string]string{"cpu": "1", "memory": "512Mi"}}), 400, `"resources.storage" is required`},
			{withSpec(map[string]any{"resources": map[string]string{"cpu": "lots", "memory": "512Mi", "storage": "1Gi"}}), 400, "cpu"},
			{withSpec(map[string]any{"resources": map[string]string{"cpu": "1", "memory": "-5Mi", "storage": "1Gi"}}), 400, "memory"},
			{withSpec(map[string]any{"name": ""}), 400, `"name" is required`},
			{withSpec(map[string]any{"timeout": "long"}), 400, `field "timeout" must be an integer`},
			{withSpec(map[string]any{"isolation": map[string]any{"security_context": map[string]any{"run_as_non_root": true, "run_as_user": 0}}}), 400, "root"},
			{withSpec(map[string]any{"labels": map[string]string{"a": "b,c"}}), 400, "invalid value"},
			{withSpec(map[string]any{"labels": map[string]string{"a=b": "x"}}), 400, `label key "a=b" is invalid: it must not contain ',', '=' or '!', which label selectors use`},
			{withSpec(map[string]any{"labels": map[string]string{"a,b": "x"}}), 400, `label key "a,b" is invalid`},
			{withSpec(map[string]any{"labels": map[string]string{"": "x"}}), 400, `field "labels" has an empty key`},
			{withSpec(map[string]any{"labels": map[string]string{"a": " x"}}), 400, "white space"},
			{withSpec(map[string]any{"env": map[string]string{"A=B": "x"}}), 400, `field "env" has an invalid variable name "A=B"`},
			{withSpec(map[string]any{"timeout": 10000000000}), 400, `field "timeout" must be between 1 and 2592000 seconds (30 days)`},
			{withSpec(map[string]any{"timeout": int64(math.MaxInt64)}), 400, `field "timeout" must be between 1 and 2592000 seconds`},
			{withSpec(map[string]any{"timeout": 0}), 400, `field "timeout" must be between 1 and 2592000 seconds`},
			{withSpec(map[string]any{"extra": true}), 400, `unknown field "extra"`},
			{withSpec(map[string]any{"isolation": map[string]any{"network_policy": map[string]any{"allowed_egress_cidrs": []string{"10.0.0.0/33"}}}}), 400, "allowed_egress_cidrs"},
		} {
			r := s.expect(t, tc.status, req{method: "POST", path: "/api/v1/environments", token: alice, body: tc.body})
			if !strings.Contains(r.message(t), tc.msg) {
				t.Errorf("%v: %q, want %q", tc.body, r.message(t), tc.msg)
			}
		}
		// A node selector that matches no node: created, then failed with the reason.
		fid := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments", token: alice,
			body: withSpec(map[string]any{"node_selector": map[string]string{"zone": "mars"}})}).m(t)["id"].(string)
		f := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + fid, token: alice}).m(t)
		if f["status"] != "failed" || !strings.Contains(f["reason"].(string), "zone=mars") {
			t.Errorf("unschedulable: %v", f)
		}
		// An image no registry has: failed with the pull's reason.
		pid := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments", token: alice,
			body: withSpec(map[string]any{"image": "no-such-image:1"})}).m(t)["id"].(string)
		deadline := time.Now().Add(time.Minute)
		for {
			f := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + pid, token: alice}).m(t)
			if f["status"] == "failed" {
				if !strings.Contains(f["reason"].(string), "no-such-image") {
					t.Errorf("pull failure reason %q", f["reason"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bad image: %v", f)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s.expect(t, 400, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=perhaps", token: alice})
		s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=false", token: alice})
		e := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id, token: alice}).m(t)
		if e["status"] != "terminated" || e["ended_at"] == nil {
			t.Errorf("deleted: %v", e)
		}
		r := s.expect(t, 409, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: alice, body: map[string]any{"command": []string{"true"}}})
		if !strings.Contains(r.message(t), "terminated") {
			t.Errorf("exec on terminated: %s", r.message(t))
		}
		s.expect(t, 404, req{method: "GET", path: "/api/v1/environments/env-doesnotexist", token: alice})
	})
}

func TestEnvironmentGVisor(t *testing.T) {
	t.Parallel()
	requireSandbox(t, "runsc")
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, tok, withSpec(map[string]any{"isolation": map[string]any{"runtime_class": "gvisor"}}))
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: tok,
		body: map[string]any{"command": []string{"sh", "-c", "uname -r; dmesg | head -1"}}}).m(t)
	if out := r["stdout"].(string); !strings.Contains(out, "4.4.0") || !strings.Contains(out, "gVisor") {
		t.Errorf("not under gVisor: %q", out)
	}
	// With a network, runsc runs on the host network stack of the
	// environment's namespace, which it cannot checkpoint: hibernate is a
	// clear 400, on demand and as on_timeout, and the environment runs on.
	base := "/api/v1/environments/" + id
	if r := s.do(t, req{method: "POST", path: base + "/pause", token: tok, body: map[string]string{"mode": "hibernate"}}); r.status != 400 || !strings.Contains(r.message(t), "hibernate is not available on this node") {
		t.Errorf("hibernate: %d %s", r.status, r.body)
	}
	if r := s.do(t, req{method: "POST", path: "/api/v1/environments", token: tok, body: withSpec(map[string]any{"on_timeout": "hibernate",
		"isolation": map[string]any{"runtime_class": "gvisor"}})}); r.status != 400 || !strings.Contains(r.message(t), "on_timeout: hibernate is not available") {
		t.Errorf("on_timeout hibernate: %d %s", r.status, r.body)
	}
	if e := s.expect(t, 200, req{method: "GET", path: base, token: tok}).m(t); e["status"] != "running" {
		t.Errorf("after a refused hibernate: %v", e["status"])
	}
	h := s.expect(t, 200, req{method: "GET", path: "/api/v1/health"}).m(t)
	classes := h["kubernetes"].(map[string]any)["runtime"].(map[string]any)["classes"].([]any)
	if len(classes) != 2 {
		t.Errorf("health runtime classes %v", classes)
	}
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=true", token: tok})
}
