package codingagent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

// codexOffline is what codex-cli 0.169.0 printed, with the flags
// CodexCommand gives it, when it could not reach OpenAI (cut short).
const codexOffline = `{"type":"thread.started","thread_id":"01a20bc7-a012-7ac3-a251-15fc0ca53835"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for ` + "`gpt-5-codex`" + ` not found. Defaulting to fallback metadata; this can degrade performance and cause issues."}}
{"type":"turn.started"}
{"type":"error","message":"Reconnecting... 2/5 (stream disconnected before completion: failed to lookup address information: Name does not resolve)"}
{"type":"item.completed","item":{"id":"item_1","type":"error","message":"Falling back from WebSockets to HTTPS transport. stream disconnected before completion: failed to lookup address information: Name does not resolve"}}
{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}
`

func TestCodexOutput(t *testing.T) {
	events := `{"type":"thread.started","thread_id":"t-1"}
{"type":"item.completed","item":{"id":"item_w","type":"error","message":"Model metadata for ` + "`gpt-5-codex`" + ` not found."}}
{"type":"turn.started"}
{"type":"error","message":"Reconnecting... 2/5 (stream disconnected before completion)"}
not json: a warning
{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"first"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"ls","aggregated_output":"` + strings.Repeat("x", 100) + `"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Done: ünïcode."}}
{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}
`
	// Written in every split, the answer is the last message.
	for _, size := range []int{1, 3, 64, len(events)} {
		o := NewOutput(Codex)
		for b := []byte(events); len(b) > 0; {
			n := min(size, len(b))
			o.Write(b[:n])
			b = b[n:]
		}
		if got, err := o.Result(); got != "Done: ünïcode." || err != nil {
			t.Errorf("chunks of %d: %q, %v", size, got, err)
		}
	}
	for name, tc := range map[string]struct{ out, want string }{
		"failed turn":   {`{"type":"turn.failed","error":{"message":"stream disconnected"}}`, "codex failed: stream disconnected"},
		"error event":   {`{"type":"error","message":"Reconnecting... 5/5 (401 Unauthorized)"}`, "codex ended without completing its turn: Reconnecting... 5/5 (401 Unauthorized)"},
		"no completion": {`{"type":"item.completed","item":{"type":"agent_message","text":"half"}}`, "codex ended without completing its turn"},
		"nothing":       {"", "codex ended without completing its turn"},
		"offline":       {codexOffline, "codex ended without completing its turn: Reconnecting... waiting for network (Connection failed: error sending request)"},
	} {
		o := NewOutput(Codex)
		o.Write([]byte(tc.out)) // no final newline: still read
		if _, err := o.Result(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A line too long to keep is skipped, not kept whole.
	o := NewOutput(Codex)
	o.Write([]byte(`{"type":"item.completed","item":{"type":"agent_message","text":"` + strings.Repeat("y", maxLine+10)))
	o.Write([]byte("\"}}\n" + `{"type":"item.completed","item":{"type":"agent_message","text":"short"}}` + "\n" + `{"type":"turn.completed"}` + "\n"))
	if got, err := o.Result(); got != "short" || err != nil || cap(o.partial) > 2*maxLine {
		t.Errorf("after a long line: %q, %v", got, err)
	}
}

func TestClaudeOutput(t *testing.T) {
	for name, tc := range map[string]struct{ out, want, err string }{
		"success":           {`{"type":"result","subtype":"success","is_error":false,"result":"Reviewed.","session_id":"s"}` + "\n", "Reviewed.", ""},
		"after other lines": {"starting\n" + `{"type":"result","subtype":"success","result":"ok"}`, "ok", ""},
		"max turns":         {`{"type":"result","subtype":"error_max_turns","is_error":true,"result":""}`, "", "claude failed: no result (error_max_turns)"},
		// What Claude Code 2.1.330 printed when its API refused the token.
		"refused":   {claudeRefused, "", "claude failed: Not logged in · Please run /login (its API call answered 401 authentication_error)"},
		"no result": {"Error: not logged in\n", "", "claude printed no result"},
	} {
		o := NewOutput(ClaudeCode)
		o.Write([]byte(tc.out))
		got, err := o.Result()
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %q, %v; want error %q", name, got, err, tc.err)
			}
		} else if got != tc.want || err != nil {
			t.Errorf("%s: %q, %v; want %q", name, got, err, tc.want)
		}
	}
}

func TestCodexSettings(t *testing.T) {
	good := CodexSettings{APIKey: "sk-1", Model: "gpt-5-codex", ReasoningEffort: "low", Search: true}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if back := CodexFrom(good.Headers()); back != good {
		t.Errorf("round trip: %+v", back)
	}
	for _, bad := range []CodexSettings{{}, {APIKey: "  "}, {APIKey: "sk 1"}, {APIKey: strings.Repeat("k", 1025)},
		{APIKey: "k", Model: `gpt"5`}, {APIKey: "k", ReasoningEffort: "max"}} {
		if err := bad.Validate(); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	c := CodexCommand(CodexSettings{APIKey: "sk-1"}, "--help", "/work")
	if want := []string{"codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-approvals-and-sandbox", "--cd", "/work", "--config", "web_search=disabled", "--", "--help"}; !slices.Equal(c.Argv, want) || c.Env["OPENAI_API_KEY"] != "sk-1" {
		t.Errorf("command %+v", c)
	}
}

// TestOAuth talks to a local server that answers as Claude's sign-in
// service does.
func TestOAuth(t *testing.T) {
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		got = append(got, body)
		switch body["code"] + body["refresh_token"] {
		case "c1", "r1":
			fmt.Fprint(w, `{"access_token":"at-`+body["grant_type"]+`","refresh_token":"rt-new","expires_in":3600,"scope":"user:inference","account":{"email_address":"a@example.com"}}`)
		case "kept":
			fmt.Fprint(w, `{"access_token":"at-2","expires_in":3600}`)
		case "typed":
			w.WriteHeader(400)
			fmt.Fprint(w, `{"type":"error","error":{"type":"invalid_request_error","message":"Invalid code"}}`)
		case "empty":
			fmt.Fprint(w, `{}`)
		default:
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	o := &OAuth{TokenURL: srv.URL, Now: func() time.Time { return now }}
	ctx := context.Background()

	tok, err := o.Exchange(ctx, " c1#v1 ")
	if err != nil || tok.AccessToken != "at-authorization_code" || tok.RefreshToken != "rt-new" || tok.Account != "a@example.com" || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("exchange: %+v, %v", tok, err)
	}
	if b := got[0]; b["code"] != "c1" || b["code_verifier"] != "v1" || b["state"] != "v1" || b["client_id"] != DefaultClientID || b["redirect_uri"] != DefaultRedirectURI {
		t.Errorf("exchange sent %v", b)
	}
	if back := ClaudeFrom(tok.Headers()); back != tok {
		t.Errorf("round trip: %+v", back)
	}
	for code, want := range map[string]string{"nohash": paddock.EInvalid, "#v": paddock.EInvalid, "c#": paddock.EInvalid,
		"typed#v": paddock.EInvalid, "empty#v": paddock.EUnavailable, "boom#v": paddock.EUnavailable} {
		if _, err := o.Exchange(ctx, code); paddock.ErrorCode(err) != want {
			t.Errorf("exchange %q: %v, want %s", code, err, want)
		}
	}
	if _, err := o.Exchange(ctx, "typed#v"); !strings.Contains(paddock.ErrorMessage(err), "invalid_request_error: Invalid code") {
		t.Errorf("a refusal's reason: %v", err)
	}

	// Fresh refreshes only what expires within a minute, keeping the
	// refresh token and account when the answer has none.
	fresh := ClaudeTokens{AccessToken: "at", RefreshToken: "kept", ExpiresAt: now.Add(2 * time.Minute), Account: "a@example.com"}
	if t2, refreshed, err := o.Fresh(ctx, fresh); refreshed || err != nil || t2 != fresh {
		t.Errorf("fresh tokens: %+v, %v, %v", t2, refreshed, err)
	}
	stale := fresh
	stale.ExpiresAt = now.Add(30 * time.Second)
	t2, refreshed, err := o.Fresh(ctx, stale)
	if !refreshed || err != nil || t2.AccessToken != "at-2" || t2.RefreshToken != "kept" || t2.Account != "a@example.com" {
		t.Errorf("stale tokens: %+v, %v, %v", t2, refreshed, err)
	}
	stale.RefreshToken = ""
	if _, _, err := o.Fresh(ctx, stale); err == nil || !strings.Contains(err.Error(), "configure Claude Code again") {
		t.Errorf("no refresh token: %v", err)
	}
	if _, err := (&OAuth{TokenURL: "http://127.0.0.1:1/token"}).Exchange(ctx, "c#v"); paddock.ErrorCode(err) != paddock.EUnavailable || strings.Contains(err.Error(), "127.0.0.1:1/token") {
		t.Errorf("unreachable: %v", err)
	}
}

const claudeRefused = `{"duration_api_ms":0,"stop_reason":"stop_sequence","session_id":"c584a85a-22f9-4ed2-b689-14fd704785b6","total_cost_usd":0,"usage":{"output_tokens_details":{"thinking_tokens":0},"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard","fallback_credit":null},"modelUsage":{},"permission_denials":[],"terminal_reason":"api_error","fast_mode_state":"off","fast_mode_disabled_reason":"sdk_opt_in_required","subagent_stats":{"spawned":0,"requested":{"background":0,"foreground":0,"unset":0},"started_in_background":0,"max_depth":0,"spawned_by_subagents":0,"completed":0,"failed":0,"killed":{"parent":0,"user":0,"system":0},"refused":{"depth_limit":0,"concurrency_limit":0,"budget":0},"by_type":{}},"safety_stops":0,"is_error":true,"num_turns":1,"subtype":"success","api_error_status":401,"api_error_type":"authentication_error","result":"Not logged in · Please run /login","type":"result","duration_ms":2258,"uuid":"26e7e4fd-491f-4417-b5c9-c20b3d481c2d","queued_turn_count":0,"result_index":0}`
