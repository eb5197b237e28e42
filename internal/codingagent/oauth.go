package codingagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

// Claude Code's OAuth client, as the CLI itself signs in: a public client
// with PKCE, whose callback page shows the user "code#state" to paste
// (Paddock's authorization_code; the state is the PKCE verifier).
const (
	DefaultTokenURL    = "https://console.anthropic.com/v1/oauth/token"
	DefaultClientID    = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
	DefaultRedirectURI = "https://console.anthropic.com/oauth/code/callback"
)

// OAuth exchanges and refreshes Claude accounts' tokens. The endpoint
// takes and answers JSON (not the form encoding of RFC 6749, which is why
// golang.org/x/oauth2 does not fit).
type OAuth struct {
	TokenURL    string       // DefaultTokenURL when empty
	ClientID    string       // DefaultClientID when empty
	RedirectURI string       // DefaultRedirectURI when empty
	HTTP        *http.Client // http.DefaultClient when nil
	Now         func() time.Time
}

// Exchange trades an authorization code ("code#verifier", as Claude's
// callback page shows it) for tokens. A malformed code is EInvalid; a
// code the provider refuses is EInvalid with the provider's reason; a
// provider that cannot be reached or fails is EUnavailable.
func (o *OAuth) Exchange(ctx context.Context, authorizationCode string) (ClaudeTokens, error) {
	code, verifier, ok := strings.Cut(strings.TrimSpace(authorizationCode), "#")
	if !ok || code == "" || verifier == "" || strings.ContainsAny(authorizationCode, "\r\n\x00") || len(authorizationCode) > 4096 {
		return ClaudeTokens{}, paddock.Errorf(paddock.EInvalid, `field "authorization_code" must be the code Claude's sign-in page shows, in the form "code#verifier"`)
	}
	return o.token(ctx, map[string]string{
		"grant_type": "authorization_code", "code": code, "state": verifier, "code_verifier": verifier,
		"client_id": o.clientID(), "redirect_uri": o.redirectURI(),
	})
}

// Refresh trades a refresh token for new tokens.
func (o *OAuth) Refresh(ctx context.Context, refreshToken string) (ClaudeTokens, error) {
	if refreshToken == "" {
		return ClaudeTokens{}, paddock.Errorf(paddock.EInvalid, "the Claude Code sign-in has no refresh token: configure Claude Code again")
	}
	return o.token(ctx, map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": o.clientID()})
}

// Fresh returns t, refreshed first when it expires within a minute, and
// whether it was refreshed (and must be stored again).
func (o *OAuth) Fresh(ctx context.Context, t ClaudeTokens) (ClaudeTokens, bool, error) {
	if !t.expiring(o.now()) {
		return t, false, nil
	}
	nt, err := o.Refresh(ctx, t.RefreshToken)
	if err != nil {
		return t, false, fmt.Errorf("refresh the Claude Code sign-in: %w", err)
	}
	if nt.RefreshToken == "" { // the provider kept the refresh token
		nt.RefreshToken = t.RefreshToken
	}
	if nt.Account == "" {
		nt.Account = t.Account
	}
	return nt, true, nil
}

func (o *OAuth) clientID() string {
	if o.ClientID != "" {
		return o.ClientID
	}
	return DefaultClientID
}

func (o *OAuth) redirectURI() string {
	if o.RedirectURI != "" {
		return o.RedirectURI
	}
	return DefaultRedirectURI
}

func (o *OAuth) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// maxTokenResponse bounds what is read of the provider's answer.
const maxTokenResponse = 1 << 20

func (o *OAuth) token(ctx context.Context, body map[string]string) (ClaudeTokens, error) {
	u := o.TokenURL
	if u == "" {
		u = DefaultTokenURL
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return ClaudeTokens{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := o.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	start := o.now()
	resp, err := hc.Do(req)
	if err != nil {
		return ClaudeTokens{}, paddock.Errorf(paddock.EUnavailable, "Claude's sign-in service cannot be reached: %v", unwrapURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return ClaudeTokens{}, paddock.Errorf(paddock.EUnavailable, "Claude's sign-in service: reading its answer: %v", err)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Scope        string `json:"scope"`
		Account      struct {
			Email string `json:"email_address"`
		} `json:"account"`
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	decodeErr := json.Unmarshal(raw, &out)
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return ClaudeTokens{}, paddock.Errorf(paddock.EUnavailable, "Claude's sign-in service answered %s: try again later", resp.Status)
	case resp.StatusCode >= 400:
		return ClaudeTokens{}, paddock.Errorf(paddock.EInvalid, "Claude's sign-in service refused the code: %s", reason(out.Error, out.ErrorDescription, resp.Status))
	case decodeErr != nil || out.AccessToken == "":
		return ClaudeTokens{}, paddock.Errorf(paddock.EUnavailable, "Claude's sign-in service answered without an access token")
	}
	t := ClaudeTokens{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, Scope: out.Scope, Account: out.Account.Email}
	if out.ExpiresIn > 0 {
		t.ExpiresAt = start.Add(time.Duration(out.ExpiresIn) * time.Second).UTC().Truncate(time.Second)
	}
	return t, nil
}

// reason is an OAuth error's text: its description, else its code (a
// string, or an object with a message, as Anthropic's API errors are).
func reason(code json.RawMessage, description, status string) string {
	if description != "" {
		return description
	}
	var s string
	if json.Unmarshal(code, &s) == nil && s != "" {
		return s
	}
	var o struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(code, &o) == nil && (o.Message != "" || o.Type != "") {
		return strings.TrimSpace(o.Type + ": " + o.Message)
	}
	return status
}

// unwrapURL drops the method and URL net/http puts before a transport
// error: the caller names the service.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
