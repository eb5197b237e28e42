package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeOAuth is an OAuth2 provider in the shape of GitHub's (authorize,
// access_token, /user, /user/emails) and Google's (token, userinfo): the
// edge a test cannot reach, served from here. It checks the client's
// secret, the code and the PKCE verifier.
type fakeOAuth struct {
	*httptest.Server
	mu        sync.Mutex
	challenge string // the code_challenge of the last authorize URL
	email     string // GitHub's primary email
	verified  bool   // Google's email_verified
}

func newFakeOAuth(t *testing.T) *fakeOAuth {
	f := &fakeOAuth{email: "octo@example.com"}
	mux := http.NewServeMux()
	token := func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		f.mu.Lock()
		pkce := base64.RawURLEncoding.EncodeToString(sum[:]) == f.challenge
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if id != "client-1" || secret != "secret-1" || r.Form.Get("code") != "good-code" || !pkce {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}`)
			return
		}
		io.WriteString(w, `{"access_token":"tok-1","token_type":"bearer","scope":"read:user,user:email"}`)
	}
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok-1" {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
		}
	}
	mux.HandleFunc("POST /login/oauth/access_token", token)
	mux.HandleFunc("POST /google/token", token)
	mux.HandleFunc("GET /api/user", authed(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":4242,"login":"octo-cat","name":"Octo Cat"}`)
	}))
	mux.HandleFunc("GET /api/user/emails", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode([]map[string]any{{"email": "old@example.com", "primary": false, "verified": true}, {"email": f.email, "primary": true, "verified": true}})
	}))
	mux.HandleFunc("GET /google/userinfo", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"sub": "g-1", "email": "ann@example.com", "email_verified": f.verified, "name": "Ann Lee"})
	}))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// oauthStart calls authorize and returns the state and the cookie it set,
// checking the redirect to the provider.
func oauthStart(t *testing.T, s *testServer, f *fakeOAuth, provider, authPath string) (string, *http.Cookie) {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(s.url + "/api/v1/admin/oauth2/" + provider + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	q := loc.Query()
	if res.StatusCode != http.StatusFound || loc.Host != strings.TrimPrefix(f.URL, "http://") || loc.Path != authPath ||
		q.Get("client_id") != "client-1" || q.Get("redirect_uri") != s.url+"/api/v1/admin/oauth2/"+provider+"/callback" ||
		q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("response_type") != "code" {
		t.Fatalf("authorize: %d, Location %s", res.StatusCode, loc)
	}
	f.mu.Lock()
	f.challenge = q.Get("code_challenge")
	f.mu.Unlock()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "paddock_oauth2" && c.HttpOnly {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("authorize set no HttpOnly cookie: %v", res.Header["Set-Cookie"])
	}
	return q.Get("state"), cookie
}

// oauthCallback calls the callback as the provider's redirect would.
func oauthCallback(t *testing.T, s *testServer, provider, query string, cookie *http.Cookie) *response {
	t.Helper()
	r, _ := http.NewRequest("GET", s.url+"/api/v1/admin/oauth2/"+provider+"/callback?"+query, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &response{status: res.StatusCode, header: res.Header, body: body}
}

// TestSeed003OAuth2GitHub: sign-in with GitHub (seed 003's OAuth2 plugin
// routes) against a local provider: the state and PKCE are checked, an
// account no user has is refused without sign-up, an account whose
// verified email a user has signs that user in and stays linked to it.
func TestSeed003OAuth2GitHub(t *testing.T) {
	t.Parallel()
	f := newFakeOAuth(t)
	s := startServer(t, func(c *Config) {
		gh := &c.Auth.OAuth2.GitHub.OAuthClient
		gh.ClientID, gh.ClientSecret = "client-1", "secret-1"
		gh.AuthURL, gh.TokenURL, gh.UserURL = f.URL+"/login/oauth/authorize", f.URL+"/login/oauth/access_token", f.URL+"/api/user"
	})
	admin := s.login(t, "admin", testAdminPassword)
	signIn := func(code string) *response {
		state, cookie := oauthStart(t, s, f, "github", "/login/oauth/authorize")
		return oauthCallback(t, s, "github", url.Values{"code": {code}, "state": {state}}.Encode(), cookie)
	}
	detail := func(r *response) string {
		var b struct{ Detail, Code string }
		json.Unmarshal(r.body, &b)
		return b.Code + ": " + b.Detail
	}

	// Bad callbacks.
	state, cookie := oauthStart(t, s, f, "github", "/login/oauth/authorize")
	for _, tc := range []struct {
		query  string
		cookie *http.Cookie
		status int
		want   string
	}{
		{"code=good-code&state=" + state, nil, 400, "no GitHub sign-in was started"},
		{"code=good-code&state=forged", cookie, 400, "does not match"},
		{"state=" + state, cookie, 400, `"code" is required`},
		{"error=access_denied&error_description=The+user+has+denied+your+application+access.", cookie, 401, "access_denied"},
	} {
		if r := oauthCallback(t, s, "github", tc.query, tc.cookie); r.status != tc.status || !strings.Contains(detail(r), tc.want) {
			t.Errorf("callback %s: %d %s, want %d naming %q", tc.query, r.status, r.body, tc.status, tc.want)
		}
	}
	if r := signIn("stale-code"); r.status != 401 || !strings.Contains(detail(r), "bad_verification_code") {
		t.Errorf("a code the provider refuses: %d %s", r.status, r.body)
	}
	if r := s.do(t, req{method: "GET", path: "/api/v1/admin/oauth2/google/authorize"}); r.status != 404 || !strings.Contains(detail(r), "PADDOCK_GOOGLE_CLIENT_ID") {
		t.Errorf("an unconfigured provider: %d %s", r.status, r.body)
	}
	s.expect(t, 404, req{method: "GET", path: "/api/v1/admin/oauth2/gitlab/authorize"})

	// No user has the account and sign-up is off.
	if r := signIn("good-code"); r.status != 403 || !strings.Contains(detail(r), "octo-cat") {
		t.Errorf("an unknown account: %d %s", r.status, r.body)
	}
	// A user with the account's verified email is signed in, and linked.
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]string{"username": "octo", "password": "password-octo", "email": "Octo@Example.com"}})
	for i := range 2 {
		r := signIn("good-code")
		var out struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			User        struct{ Username string }
		}
		json.Unmarshal(r.body, &out)
		if r.status != 200 || out.TokenType != "Bearer" || out.User.Username != "octo" {
			t.Fatalf("sign-in %d: %d %s", i, r.status, r.body)
		}
		if me := s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: out.AccessToken}).m(t); me["username"] != "octo" {
			t.Errorf("the token's user: %v", me)
		}
		f.mu.Lock()
		f.email = "elsewhere@example.com" // the link holds whatever the email becomes
		f.mu.Unlock()
	}
	logs := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/login-logs?size=50", token: admin})
	if !strings.Contains(string(logs.body), `"octo"`) {
		t.Errorf("the sign-in is not in the login log: %s", logs.body)
	}
}

// TestOAuth2GoogleSignup: with sign-up allowed, a Google account no user
// has gets a new user (its unverified email is neither linked nor kept),
// and the browser goes to success_url with the token in the fragment.
func TestOAuth2GoogleSignup(t *testing.T) {
	t.Parallel()
	f := newFakeOAuth(t)
	s := startServer(t, func(c *Config) {
		g := &c.Auth.OAuth2.Google
		g.ClientID, g.ClientSecret = "client-1", "secret-1"
		g.AuthURL, g.TokenURL, g.UserURL = f.URL+"/google/auth", f.URL+"/google/token", f.URL+"/google/userinfo"
		c.Auth.OAuth2.AllowSignup = true
		c.Auth.OAuth2.SuccessURL = "https://app.example.com/signed-in"
	})
	admin := s.login(t, "admin", testAdminPassword)
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]string{"username": "ann", "password": "password-ann", "email": "ann@example.com"}})
	state, cookie := oauthStart(t, s, f, "google", "/google/auth")
	r := oauthCallback(t, s, "google", url.Values{"code": {"good-code"}, "state": {state}}.Encode(), cookie)
	loc, _ := url.Parse(r.header.Get("Location"))
	frag, _ := url.ParseQuery(loc.Fragment)
	if r.status != 302 || loc.Host != "app.example.com" || frag.Get("token_type") != "Bearer" || frag.Get("expires_at") == "" {
		t.Fatalf("callback: %d, Location %s", r.status, loc)
	}
	me := s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: frag.Get("access_token")}).m(t)
	if me["username"] != "ann-example.com" || me["email"] != "" || me["role"] != "user" {
		t.Errorf("the new user: %v", me)
	}
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "paddock_oauth2=;") && !strings.Contains(c, "Max-Age=0") {
		t.Errorf("the sign-in cookie is not cleared: %q", c)
	}
}
