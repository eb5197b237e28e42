package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// browser is a headless Chromium driven over the DevTools protocol. It
// records the page's uncaught exceptions and its security and script
// errors (a Content-Security-Policy violation is one): a test fails if
// there were any.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// newBrowser starts Chromium (Debian's package) for test t, with the
// flags a machine without internet needs: nothing in the background.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("the web UI tests need Chromium (apt-get install chromium)")
	}
	tmp := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
		// Its profile and its temporary files in the test's directory,
		// which the test removes: a browser killed at the end leaves both.
		chromedp.UserDataDir(filepath.Join(tmp, "profile")), chromedp.Env("TMPDIR="+tmp))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.errs = append(b.errs, "exception: "+ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			if ev.Entry.Source == log.SourceSecurity || ev.Entry.Source == log.SourceJavascript {
				b.errs = append(b.errs, fmt.Sprintf("%s: %s", ev.Entry.Source, ev.Entry.Text))
			}
		}
	})
	if err := chromedp.Run(ctx, log.Enable()); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("page error: %s", e)
		}
	})
	return b
}

// run runs actions with a deadline, failing the test with what was being
// done when one fails.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var body string
		_ = chromedp.Run(b.ctx, chromedp.Text("#view", &body, chromedp.ByQuery))
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, body)
	}
}

// wait waits until the JavaScript expression js is true.
func (b *browser) wait(t *testing.T, what, js string) {
	t.Helper()
	var ok bool
	b.run(t, "wait for "+what, chromedp.Poll(js, &ok, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute)))
}

// text returns the text of the element sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	b.run(t, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// js evaluates expression and returns its value.
func (b *browser) js(t *testing.T, expression string, v any) {
	t.Helper()
	b.run(t, "evaluate "+expression, chromedp.Evaluate(expression, v))
}

// awaitPromise makes Evaluate wait for the promise its expression gives.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// setValue sets the value of the input sel, replacing what it holds.
func setValue(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%s).value = %s`, jsString(sel), jsString(value)), nil)
}

// TestWebUI drives the web UI in a real browser against a real server:
// sign in (a wrong password first), create an environment from the form
// and watch it start, read its log, run commands in it, talk to an agent
// whose run calls a tool in the session's environment, create and revoke
// an API key, delete the environment, sign out, and come back with a
// token that no longer works.
func TestWebUI(t *testing.T) {
	t.Parallel()
	withLLM(t, llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "echo from-agent-tool"})}}},
		llmtest.Step{Text: "Hello from the model.", Deltas: []string{"Hello ", "from the ", "model."}},
		llmtest.Step{Delay: 5 * time.Minute, Text: "too late"}, // cancelled
	))
	// Claude's sign-in service: a code exchanged with the PKCE verifier the
	// page made gives tokens.
	oauth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if body["code"] != "good-code" || len(body["code_verifier"]) < 43 || body["code_verifier"] != body["state"] {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid 'code' in request."}`)
			return
		}
		fmt.Fprint(w, `{"token_type":"Bearer","access_token":"sk-ant-oat01-ui","refresh_token":"sk-ant-ort01-ui","expires_in":28800,"scope":"user:inference","account":{"email_address":"you@example.com"}}`)
	}))
	t.Cleanup(oauth.Close)
	s := startSandboxServer(t, func(c *Config) { c.Agents.ClaudeOAuthTokenURL = oauth.URL })
	b := newBrowser(t)

	// The server's address leads to the UI, which asks to sign in.
	b.run(t, "open the UI", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible("#login-username", chromedp.ByID))
	var loc string
	b.js(t, "location.pathname + location.hash", &loc)
	if loc != "/ui/#/login" {
		t.Errorf("the server's address leads to %q, want /ui/#/login", loc)
	}
	// Nothing but the form shows before signing in.
	var shown bool
	b.js(t, `document.getElementById('top').checkVisibility()`, &shown)
	if shown {
		t.Error("the navigation shows before signing in")
	}
	b.run(t, "sign in with a wrong password",
		chromedp.SendKeys("#login-username", "admin", chromedp.ByID),
		chromedp.SendKeys("#login-password", "not-the-password", chromedp.ByID),
		chromedp.Click("#login-submit", chromedp.ByID))
	b.wait(t, "the login error", `document.getElementById('login-error').textContent !== ''`)
	if got := b.text(t, "#login-error"); got != "invalid username or password" {
		t.Errorf("login error %q", got)
	}
	b.run(t, "sign in",
		setValue("#login-password", ""),
		chromedp.SendKeys("#login-password", testAdminPassword, chromedp.ByID),
		chromedp.Click("#login-submit", chromedp.ByID),
		chromedp.WaitVisible("#env-new", chromedp.ByID))
	if who := b.text(t, "#who"); who != "admin (admin)" {
		t.Errorf("signed in as %q", who)
	}

	// A bad form gets the server's message; a good one starts an
	// environment whose page shows it running.
	b.js(t, `document.getElementById('env-image').checkVisibility()`, &shown)
	if shown {
		t.Error("the new environment form shows before it is asked for")
	}
	b.run(t, "open the form", chromedp.Click("#env-new", chromedp.ByID), chromedp.WaitVisible("#env-image", chromedp.ByID))
	b.run(t, "create with a bad memory size",
		chromedp.SendKeys("#env-name", "ui-test", chromedp.ByID),
		chromedp.SendKeys("#env-image", "python:3.11-slim", chromedp.ByID),
		setValue("#env-memory", "lots"),
		chromedp.Click("#env-create", chromedp.ByID))
	b.wait(t, "the form's error", `document.querySelector('form .error').textContent.includes('memory')`)
	b.run(t, "create an environment",
		setValue("#env-memory", "256Mi"),
		chromedp.SendKeys("#env-command", "echo started-from-ui", chromedp.ByID),
		chromedp.Click("#env-create", chromedp.ByID))
	b.wait(t, "the environment to run", `document.querySelector('#env-status [data-status]')?.dataset.status === 'running'`)
	var hash string
	b.js(t, "location.hash", &hash)
	envID := strings.TrimPrefix(hash, "#/environments/")
	if !strings.HasPrefix(envID, "env-") {
		t.Fatalf("after create the page is %q", hash)
	}
	b.wait(t, "the command's output in the log", `document.getElementById('logs').textContent.includes('started-from-ui')`)
	if got := b.text(t, "#env-info"); !strings.Contains(got, "sh -c 'echo started-from-ui'") {
		t.Errorf("the environment's details show:\n%s", got)
	}

	// Commands run in it, with stdout, stderr and the exit code apart.
	b.run(t, "run a command",
		chromedp.SendKeys("#exec-command", "echo hello-ui; echo oops >&2; exit 3", chromedp.ByID),
		chromedp.Click("#exec-run", chromedp.ByID))
	b.wait(t, "the exit", `document.querySelector('#exec-output .exit')?.dataset.exit === '3'`)
	var stdout, stderr string
	b.js(t, `[...document.querySelectorAll('#exec-output .stdout')].map(e => e.textContent).join('')`, &stdout)
	b.js(t, `[...document.querySelectorAll('#exec-output .stderr')].map(e => e.textContent).join('')`, &stderr)
	if stdout != "hello-ui\n" || stderr != "oops\n" {
		t.Errorf("exec output: stdout %q, stderr %q", stdout, stderr)
	}
	adminTok := s.login(t, "admin", testAdminPassword)
	b.run(t, "run another", chromedp.SendKeys("#exec-command", "id -u\r", chromedp.ByID))
	b.wait(t, "its exit", `document.querySelectorAll('#exec-output .exit').length === 2`)

	// A command can be stopped, which kills it in the environment.
	b.run(t, "start a long command", chromedp.SendKeys("#exec-command", "sleep 300\r", chromedp.ByID), chromedp.WaitVisible("#exec-stop", chromedp.ByID))
	sleeping := func() int { // processes whose command line has sleep (the pattern itself does not match)
		out := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + envID + "/exec", token: adminTok, body: map[string]any{
			"command": []string{"sh", "-c", "grep -l 'slee[p]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l"}}}).m(t)["stdout"].(string)
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); sleeping() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long command did not start")
		}
	}
	b.run(t, "stop it", chromedp.Click("#exec-stop", chromedp.ByID))
	b.wait(t, "the stop", `document.querySelector('#exec-output .stopped') !== null && document.getElementById('exec-stop').hidden`)
	for deadline := time.Now().Add(30 * time.Second); sleeping() != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stopped command still runs in the environment")
		}
	}

	// A terminal: a shell on a PTY of the box's size, which takes keys,
	// follows a resize and reports its exit, all under the page's policy.
	b.js(t, `window.cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); true`, nil)
	b.run(t, "open a terminal", chromedp.Click("#term-open", chromedp.ByID))
	b.wait(t, "the shell", `document.getElementById('term-state').textContent === 'connected'`)
	screen := `document.querySelector('#terminal .xterm-rows').textContent.replaceAll('\u00a0', ' ')`
	// typeIn types a line as a keyboard would: the text as input, then
	// Enter as a key. (chromedp.SendKeys sends each character as a key
	// down and a char event, both of which xterm.js takes as typed.)
	typeIn := func(what, line string) {
		t.Helper()
		b.run(t, what, chromedp.Focus("#terminal .xterm-helper-textarea", chromedp.ByQuery),
			input.InsertText(line),
			input.DispatchKeyEvent(input.KeyRawDown).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13),
			input.DispatchKeyEvent(input.KeyUp).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13))
	}
	// The shell computes the markers, so the echo of what is typed
	// cannot match them.
	typeIn("type a command", "echo term-$((6*7)) size-$(stty size | tr ' ' x)")
	var cols, rows string
	b.js(t, `document.getElementById('terminal').dataset.cols`, &cols)
	b.js(t, `document.getElementById('terminal').dataset.rows`, &rows)
	if n, _ := strconv.Atoi(cols); n < 80 {
		t.Errorf("the terminal is %s columns wide in a 1280-pixel window", cols)
	}
	b.wait(t, "its output", screen+`.includes('term-42 size-`+rows+`x`+cols+`')`)
	b.run(t, "narrow the window", emulation.SetDeviceMetricsOverride(800, 900, 1, false))
	b.wait(t, "the terminal to follow", `Number(document.getElementById('terminal').dataset.cols) < `+cols)
	b.js(t, `document.getElementById('terminal').dataset.cols`, &cols)
	typeIn("ask the size again", "echo resized-$(stty size | tr ' ' x)")
	b.wait(t, "the new size", screen+`.includes('resized-`+rows+`x`+cols+`')`)
	b.run(t, "widen the window", emulation.ClearDeviceMetricsOverride())
	typeIn("exit", "exit 3")
	b.wait(t, "the exit", `document.getElementById('term-state').dataset.exit === '3' && !document.getElementById('term-open').hidden`)
	var violations []string
	b.js(t, `cspViolations`, &violations)
	if len(violations) != 0 {
		t.Errorf("the terminal broke the page's Content-Security-Policy: %v", violations)
	}

	// A background process: started from the command line, listed, its
	// output followed, killed.
	b.run(t, "start one in the background", chromedp.Click("#exec-background", chromedp.ByID),
		chromedp.SendKeys("#exec-command", "echo bg-$((2+3)); sleep 300\r", chromedp.ByID))
	b.wait(t, "its row", `document.querySelector('#procs tr [data-status]')?.dataset.status === 'running'`)
	b.run(t, "show its output", chromedp.Click("#procs tr button.output", chromedp.ByQuery))
	b.wait(t, "the output", `document.getElementById('proc-output').textContent.includes('bg-5')`)
	b.run(t, "kill it", chromedp.Click("#procs tr button.kill", chromedp.ByQuery))
	b.wait(t, "its end", `document.getElementById('proc-output').textContent.includes('[killed]') && document.querySelector('#procs tr [data-status]')?.dataset.status === 'killed'`)
	// A port: a server started in the background, exposed, and opened in
	// a tab through its sign-in URL (window.open is caught, and the page
	// follows the URL as the tab would).
	b.run(t, "start a server", chromedp.SendKeys("#exec-command", "cd /tmp && echo served-file > hello.txt && exec python3 -m http.server 8000\r", chromedp.ByID))
	b.run(t, "expose its port", chromedp.SendKeys("#port-number", "8000", chromedp.ByID), chromedp.Click("#port-expose", chromedp.ByID))
	b.wait(t, "the port's row", `document.querySelector('#ports tr[data-port="8000"] code')?.textContent.endsWith('/ports/8000/')`)
	b.js(t, `window.open = (url) => { window.openedURL = url; return null; }; true`, nil)
	b.run(t, "open it", chromedp.Click(`#ports tr[data-port="8000"] button.open`, chromedp.ByQuery))
	b.wait(t, "the sign-in URL", `typeof window.openedURL === 'string' && window.openedURL.includes('ticket=')`)
	var served string
	b.run(t, "follow it", chromedp.Evaluate(`fetch(window.openedURL).then((r) => r.status)`, nil, awaitPromise))
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(served, "served-file"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the port's file through the browser's cookie: %q", served)
		}
		b.run(t, "fetch a file", chromedp.Evaluate(`fetch('/api/v1/environments/`+envID+`/ports/8000/hello.txt').then((r) => r.text())`, &served, awaitPromise))
	}
	b.run(t, "back to the foreground", chromedp.Click("#exec-background", chromedp.ByID))

	// Files: the working directory is listed; a file uploaded from the
	// computer lands in it, and downloads back the same; directories open.
	b.wait(t, "the file list", `document.getElementById('files-path').textContent === '/' && document.querySelector('#files tr[data-name=etc][data-type=dir]') !== null`)
	local := filepath.Join(t.TempDir(), "ui-upload.txt")
	content := "uploaded from the browser\n" + strings.Repeat("x", 100000)
	if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run(t, "upload a file", chromedp.SetUploadFiles("#file-upload", []string{local}, chromedp.ByID))
	b.wait(t, "the uploaded file's row", `document.querySelector('#files tr[data-name="ui-upload.txt"][data-type=file]') !== null`)
	if got := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + envID + "/files?path=/ui-upload.txt", token: adminTok}).body; string(got) != content {
		t.Errorf("the uploaded file holds %d bytes, want %d", len(got), len(content))
	}
	downloads := t.TempDir()
	b.run(t, "download it",
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Click(`#files tr[data-name="ui-upload.txt"] a.file`, chromedp.ByQuery))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got, err := os.ReadFile(filepath.Join(downloads, "ui-upload.txt")); err == nil && string(got) == content {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the download did not arrive whole")
		}
	}
	b.run(t, "open a directory", chromedp.Click(`#files tr[data-name=etc] a.dir`, chromedp.ByQuery))
	b.wait(t, "its list", `document.getElementById('files-path').textContent === '/etc' && document.querySelector('#files tr[data-name=passwd]') !== null`)

	// The environment is in the list, which comes in pages of 50: 55
	// more environments that fail at once (no node matches them) make two.
	for i := range 55 {
		s.expect(t, 201, req{method: "POST", path: "/api/v1/environments", token: adminTok, body: withSpec(map[string]any{
			"name": fmt.Sprintf("unplaceable-%d", i), "node_selector": map[string]string{"zone": "nowhere"}})})
	}
	b.run(t, "list environments", chromedp.Navigate(s.url+"/ui/#/environments"))
	b.wait(t, "the first page", `document.querySelectorAll('tbody tr[data-id]').length === 50 && document.getElementById('env-prev').hidden`)
	if got := b.text(t, "#env-count"); got != "1–50 of 56" {
		t.Errorf("first page: %q", got)
	}
	b.run(t, "next page", chromedp.Click("#env-next", chromedp.ByID))
	b.wait(t, "the second page", `document.querySelectorAll('tbody tr[data-id]').length === 6 && document.getElementById('env-next').hidden`)
	b.run(t, "running only", chromedp.SetValue("#env-filter", "running", chromedp.ByID))
	b.wait(t, "the environment's row", fmt.Sprintf(`document.querySelectorAll('tbody tr[data-id]').length === 1 && document.querySelector('tr[data-id=%s] [data-status]')?.dataset.status === 'running'`, jsString(envID)))

	// An agent whose name is markup: it is shown as text.
	name := "<b>bold</b> agent"
	b.run(t, "create an agent",
		chromedp.Navigate(s.url+"/ui/#/agents"),
		chromedp.WaitVisible("#agent-new", chromedp.ByID),
		chromedp.Click("#agent-new", chromedp.ByID),
		chromedp.SendKeys("#agent-name", name, chromedp.ByID),
		chromedp.SendKeys("#agent-prompt", "Be brief.", chromedp.ByID),
		chromedp.Click("#agent-create", chromedp.ByID))
	b.wait(t, "the agent's page", `document.getElementById('session-new') && document.querySelector('h1').textContent.includes('<b>bold</b> agent')`)
	var markup bool
	b.js(t, `document.querySelector('main b') !== null`, &markup)
	if markup {
		t.Error("the agent's name was inserted as HTML")
	}

	// A session: the message goes, the tool runs in the session's
	// environment, and the answer streams in.
	b.run(t, "start a session", chromedp.Click("#session-new", chromedp.ByID), chromedp.WaitVisible("#chat-input", chromedp.ByID))
	b.run(t, "send a message", chromedp.SendKeys("#chat-input", "run echo, then say hello", chromedp.ByID), chromedp.Click("#chat-send", chromedp.ByID))
	b.wait(t, "the tool's result", `document.querySelector('.tool[data-tool=bash][data-done] .result')?.textContent.includes('from-agent-tool')`)
	b.wait(t, "the answer", `[...document.querySelectorAll('.msg.assistant[data-final] .text')].some(e => e.textContent === 'Hello from the model.')`)
	b.wait(t, "the session to be idle", `document.querySelector('#session-status [data-status]')?.dataset.status === 'pending'`)
	if got := b.text(t, ".msg.user .text"); got != "run echo, then say hello" { // the first
		t.Errorf("the user's message shows %q", got)
	}
	// A run can be cancelled while the model thinks.
	b.run(t, "send another", chromedp.SendKeys("#chat-input", "take your time\r", chromedp.ByID))
	b.wait(t, "the cancel button", `document.querySelector('#session-status [data-status]')?.dataset.status === 'running' && !document.getElementById('chat-cancel').hidden`)
	b.run(t, "cancel", chromedp.Click("#chat-cancel", chromedp.ByID))
	b.wait(t, "the cancellation", `[...document.querySelectorAll('#chat-log p')].some(e => e.textContent === 'Cancelled.') && document.querySelector('#session-status [data-status]')?.dataset.status === 'pending' && document.getElementById('chat-cancel').hidden`)

	// A reload replays the session from its events: each message once.
	b.run(t, "reload the session", chromedp.Reload())
	b.wait(t, "the replayed answer", `[...document.querySelectorAll('.msg.assistant[data-final] .text')].some(e => e.textContent === 'Hello from the model.')`)
	var counts []int
	b.js(t, `[document.querySelectorAll('.msg.user').length, document.querySelectorAll('.tool').length, document.querySelectorAll('.msg.assistant[data-final]').length]`, &counts)
	if fmt.Sprint(counts) != "[2 1 2]" {
		t.Errorf("after a reload: %v user messages, tools, final assistant messages; want [2 1 2]", counts)
	}

	// Agents, and an agent's sessions, come in pages of 50 too.
	var agentID string
	b.js(t, `location.hash.split('/')[2]`, &agentID)
	for i := range 50 {
		s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: adminTok, body: map[string]any{"name": fmt.Sprintf("agent-%02d", i)}})
		s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions", token: adminTok, body: map[string]any{}})
	}
	for _, list := range []struct{ what, hash string }{{"agents", "#/agents"}, {"sessions", "#/agents/" + agentID}} {
		b.run(t, "list "+list.what, chromedp.Navigate(s.url+"/ui/"+list.hash))
		b.wait(t, "the first page of "+list.what, fmt.Sprintf(`document.querySelectorAll('tbody tr[data-id]').length === 50 && document.getElementById('%s-count')?.textContent === '1–50 of 51' && document.getElementById('%[1]s-prev').hidden`, list.what))
		b.run(t, "next page of "+list.what, chromedp.Click("#"+list.what+"-next", chromedp.ByID))
		b.wait(t, "the last of the "+list.what, fmt.Sprintf(`document.querySelectorAll('tbody tr[data-id]').length === 1 && document.getElementById('%s-count').textContent === '51–51 of 51' && document.getElementById('%[1]s-next').hidden`, list.what))
		b.run(t, "back to the first page of "+list.what, chromedp.Click("#"+list.what+"-prev", chromedp.ByID))
		b.wait(t, "the first page of "+list.what+" again", `document.querySelectorAll('tbody tr[data-id]').length === 50`)
	}

	// An API key: shown once, it works, and once revoked it does not.
	b.run(t, "create an API key",
		chromedp.Navigate(s.url+"/ui/#/keys"),
		chromedp.WaitVisible("#key-description", chromedp.ByID),
		chromedp.SendKeys("#key-description", "from the UI", chromedp.ByID),
		chromedp.Click("#key-create", chromedp.ByID),
		chromedp.WaitVisible("#key-secret", chromedp.ByID))
	key := b.text(t, "#key-secret")
	s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: key})
	var keyID string
	b.js(t, `document.querySelector('tbody tr[data-id]').dataset.id`, &keyID)
	revoke := fmt.Sprintf(`tr[data-id=%s] button`, jsString(keyID))
	b.run(t, "revoke it", chromedp.Click(revoke, chromedp.ByQuery), chromedp.Click(revoke, chromedp.ByQuery))
	b.wait(t, "the key to go", fmt.Sprintf(`document.querySelector('tr[data-id=%s]') === null`, jsString(keyID)))
	s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: key})

	// A model provider key of one's own: set, shown as a hint, removed.
	b.run(t, "set a provider key",
		chromedp.SetValue("#provider-name", "anthropic", chromedp.ByID),
		chromedp.SendKeys("#provider-key", "sk-ant-from-the-ui-1234", chromedp.ByID),
		chromedp.Click("#provider-save", chromedp.ByID))
	b.wait(t, "its row", `document.querySelector('#provider-keys tr[data-provider=anthropic]')?.textContent.includes('sk-…1234')`)
	if got := s.expect(t, 200, req{method: "GET", path: "/v1/provider-keys", token: adminTok}).body; !strings.Contains(string(got), `"key_hint":"sk-…1234"`) {
		t.Errorf("the API lists %s", got)
	}
	remove := `#provider-keys tr[data-provider=anthropic] button`
	b.run(t, "remove it", chromedp.Click(remove, chromedp.ByQuery), chromedp.Click(remove, chromedp.ByQuery))
	b.wait(t, "it to go", `document.querySelector('#provider-keys tr[data-provider]') === null`)

	// Coding agents: Codex with a key, turned off, removed; Claude Code
	// signed in through the PKCE link the page makes.
	b.run(t, "configure codex",
		chromedp.SendKeys("#codex-key", "sk-codex-from-the-ui-9876", chromedp.ByID),
		chromedp.SendKeys("#codex-model", "gpt-5-codex", chromedp.ByID),
		chromedp.SetValue("#codex-effort", "high", chromedp.ByID),
		chromedp.Click("#codex-search", chromedp.ByID),
		chromedp.Click("#codex-save", chromedp.ByID))
	b.wait(t, "codex's status", `document.getElementById('codex-status').textContent === 'Configured with key sk-…9876, model gpt-5-codex, high effort, web search; on.'`)
	b.run(t, "turn codex off", chromedp.Click("#codex-toggle", chromedp.ByID))
	b.wait(t, "codex off", `document.getElementById('codex-status').textContent.endsWith('; off.')`)
	b.run(t, "remove codex", chromedp.Click("#codex-remove", chromedp.ByID), chromedp.Click("#codex-remove", chromedp.ByID))
	b.wait(t, "codex gone", `document.getElementById('codex-status').textContent === 'Not configured.'`)
	b.run(t, "make the sign-in link", chromedp.Click("#claude-signin", chromedp.ByID))
	b.wait(t, "the link", `!document.getElementById('claude-link').hidden`)
	var href string
	b.js(t, `document.getElementById('claude-link').href`, &href)
	link, _ := url.Parse(href)
	q := link.Query()
	challenge := sha256.Sum256([]byte(q.Get("state")))
	if link.Host != "claude.ai" || q.Get("client_id") != "9d1c250a-e61b-44d9-88ed-5944d1962f5e" || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(challenge[:]) || len(q.Get("state")) != 43 {
		t.Errorf("Claude sign-in link %s", href)
	}
	b.run(t, "paste a wrong code", chromedp.SendKeys("#claude-code-input", "stale#"+q.Get("state"), chromedp.ByID), chromedp.Click("#claude-save", chromedp.ByID))
	b.wait(t, "the refusal", `document.getElementById('flash')?.textContent.includes("Invalid 'code' in request.")`)
	b.run(t, "paste the code", setValue("#claude-code-input", "good-code#"+q.Get("state")), chromedp.Click("#claude-save", chromedp.ByID))
	b.wait(t, "signed in", `document.getElementById('claude-code-status').textContent === 'Signed in as you@example.com; on.'`)

	// Deleting the environment takes two clicks.
	b.run(t, "open the environment", chromedp.Navigate(s.url+"/ui/#/environments/"+envID), chromedp.WaitVisible("#env-delete", chromedp.ByID))
	b.run(t, "click delete once", chromedp.Click("#env-delete", chromedp.ByID))
	if st := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + envID, token: adminTok}).m(t)["status"]; st != "running" {
		t.Fatalf("one click on delete left the environment %v", st)
	}
	b.run(t, "confirm", chromedp.Click("#env-delete", chromedp.ByID))
	b.wait(t, "the environment to end", `document.querySelector('#env-status [data-status]')?.dataset.status === 'terminated'`)

	// An admin makes a user; a bad one gets the server's reason.
	b.run(t, "open users", chromedp.Click("#nav-users", chromedp.ByID), chromedp.WaitVisible("#user-name", chromedp.ByID))
	b.run(t, "create a user with a short password",
		chromedp.SendKeys("#user-name", "carol", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('user-password').removeAttribute('minlength')`, nil),
		chromedp.SendKeys("#user-password", "short", chromedp.ByID),
		chromedp.Click("#user-create", chromedp.ByID))
	b.wait(t, "the refusal", `document.getElementById('flash')?.textContent.includes('password')`)
	b.run(t, "create the user",
		setValue("#user-password", "carol-password-1"),
		chromedp.Click("#user-create", chromedp.ByID))
	b.wait(t, "carol's row", `document.querySelector('tr[data-username=carol]') !== null`)
	// Users come in pages of 50.
	for i := range 50 {
		s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: adminTok, body: map[string]any{"username": fmt.Sprintf("user-%02d", i), "password": "user-password-1"}})
	}
	total := int(s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/users?size=1", token: adminTok}).m(t)["total"].(float64))
	b.run(t, "reload users", chromedp.Reload())
	b.wait(t, "the first page of users", fmt.Sprintf(`document.querySelectorAll('tbody tr[data-username]').length === 50 && document.getElementById('users-count')?.textContent === '1–50 of %d'`, total))
	b.run(t, "next page of users", chromedp.Click("#users-next", chromedp.ByID))
	b.wait(t, "the rest of the users", fmt.Sprintf(`document.querySelectorAll('tbody tr[data-username]').length === %d && document.getElementById('users-next').hidden`, total-50))

	// Signing out forgets the token; a token the server no longer takes
	// sends the page back to sign-in with a reason.
	b.run(t, "sign out", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#login-username", chromedp.ByID))
	// Carol signs in: she sees her environments only (none), and no
	// users page.
	b.run(t, "sign in as carol",
		chromedp.SendKeys("#login-username", "carol", chromedp.ByID),
		chromedp.SendKeys("#login-password", "carol-password-1", chromedp.ByID),
		chromedp.Click("#login-submit", chromedp.ByID))
	b.wait(t, "her empty list", `document.getElementById('env-count')?.textContent === '0 of 0'`)
	b.js(t, `document.getElementById('nav-users').checkVisibility()`, &shown)
	if shown {
		t.Error("a user who is not an admin sees the users page's link")
	}
	b.run(t, "sign out again", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#login-username", chromedp.ByID))
	b.run(t, "come back without a token", chromedp.Navigate(s.url+"/ui/#/agents"), chromedp.WaitVisible("#login-username", chromedp.ByID))
	b.run(t, "come back with a dead token",
		chromedp.Evaluate(`sessionStorage.setItem('paddock.token', 'not-a-token'); location.hash = '#/environments'`, nil))
	b.wait(t, "the sign-in page with the reason", `document.getElementById('login-error')?.textContent.includes('sign in again')`)
}
