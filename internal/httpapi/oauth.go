package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/paddockhq/paddock"
)

// OAuthProvider is an OAuth2 provider users sign in with (seed 003's
// /api/v1/admin/oauth2/{github,google}/...). Its endpoints default to the
// provider's own (GitHubProvider, GoogleProvider); tests and GitHub
// Enterprise set others.
type OAuthProvider struct {
	Title        string // "GitHub", in messages
	ClientID     string
	ClientSecret string
	AuthURL      string
	TokenURL     string
	UserURL      string // GitHub: the API's /user; Google: the userinfo endpoint
	EmailsURL    string // GitHub: the API's /user/emails; "" for Google, whose userinfo has the email
	RedirectURL  string // "": this server's callback, at the address the browser used
	Scopes       []string
}

// GitHubProvider returns GitHub's endpoints (apiURL: GitHub Enterprise's
// API, "" for github.com; baseURL likewise for its web endpoints).
func GitHubProvider(baseURL, apiURL string) OAuthProvider {
	if baseURL == "" {
		baseURL = "https://github.com"
	}
	if apiURL == "" {
		apiURL = "https://api.github.com"
	}
	baseURL, apiURL = strings.TrimRight(baseURL, "/"), strings.TrimRight(apiURL, "/")
	return OAuthProvider{Title: "GitHub", AuthURL: baseURL + "/login/oauth/authorize", TokenURL: baseURL + "/login/oauth/access_token",
		UserURL: apiURL + "/user", EmailsURL: apiURL + "/user/emails", Scopes: []string{"read:user", "user:email"}}
}

// GoogleProvider returns Google's endpoints.
func GoogleProvider() OAuthProvider {
	return OAuthProvider{Title: "Google", AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token",
		UserURL: "https://openidconnect.googleapis.com/v1/userinfo", Scopes: []string{"openid", "email", "profile"}}
}

// OAuthConfig configures sign-in with OAuth2 providers.
type OAuthConfig struct {
	Providers map[string]OAuthProvider // by the name in the path: github, google
	// AllowSignup creates a user (role user) for an account no user is
	// linked to and whose verified email no user has.
	AllowSignup bool
	// SuccessURL, when set, is where the browser goes after signing in,
	// with the token in the fragment (#access_token=...&token_type=Bearer&
	// expires_at=...); else the callback answers as the admin login does.
	SuccessURL string
}

// oauthIdentity is an account at a provider.
type oauthIdentity struct {
	subject       string // the provider's stable id of the account
	login, name   string
	email         string
	emailVerified bool
}

const oauthCookieTTL = 10 * time.Minute

type oauthParam struct {
	Provider string `path:"provider" enum:"github,google"`
}

type oauthCallbackParams struct {
	Provider string `path:"provider" enum:"github,google"`
	Code     string `query:"code"`
	State    string `query:"state"`
	Error    string `query:"error" description:"set by the provider when the sign-in failed"`
}

func (s *Server) oauthProvider(r *http.Request) (string, OAuthProvider, *oauth2.Config, error) {
	name := r.PathValue("provider")
	p, ok := s.cfg.OAuth.Providers[name]
	if !ok || p.ClientID == "" {
		switch name {
		case "github", "google":
			return "", p, nil, paddock.Errorf(paddock.ENotFound, "sign-in with %s is not configured: set auth.oauth2.%s.client_id and client_secret (PADDOCK_%s_CLIENT_ID, PADDOCK_%s_CLIENT_SECRET)",
				name, name, strings.ToUpper(name), strings.ToUpper(name))
		}
		return "", p, nil, paddock.Errorf(paddock.ENotFound, "no OAuth2 provider %q: github and google are supported", name)
	}
	redirect := p.RedirectURL
	if redirect == "" {
		redirect = s.baseURL(r) + "/api/v1/admin/oauth2/" + name + "/callback"
	}
	return name, p, &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: redirect, Scopes: p.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL}}, nil
}

// handleOAuthAuthorize sends the browser to the provider, with a state
// and a PKCE challenge whose secrets stay in a short-lived cookie.
func (s *Server) handleOAuthAuthorize(w http.ResponseWriter, r *http.Request) error {
	name, _, cfg, err := s.oauthProvider(r)
	if err != nil {
		return err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	state, verifier := base64.RawURLEncoding.EncodeToString(b), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: "paddock_oauth2", Value: state + "." + verifier, Path: "/api/v1/admin/oauth2/" + name,
		MaxAge: int(oauthCookieTTL.Seconds()), HttpOnly: true, Secure: strings.HasPrefix(cfg.RedirectURL, "https:"), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	return nil
}

// handleOAuthCallback finishes a sign-in: it checks the state, exchanges
// the code, reads the account, finds (or links, or creates) its user and
// issues a token.
func (s *Server) handleOAuthCallback(w http.ResponseWriter, r *http.Request) error {
	name, p, cfg, err := s.oauthProvider(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		err := paddock.Errorf(paddock.EUnauthorized, "%s sign-in failed: %s %s", p.Title, e, q.Get("error_description"))
		s.recordLogin(r, name+":", nil, err)
		return err
	}
	c, _ := r.Cookie("paddock_oauth2")
	state, verifier, _ := strings.Cut(cookieValue(c), ".")
	switch {
	case state == "":
		return paddock.Errorf(paddock.EInvalid, "no %s sign-in was started in this browser, or it took over %v: start again at /api/v1/admin/oauth2/%s/authorize", p.Title, oauthCookieTTL, name)
	case q.Get("state") != state:
		return paddock.Errorf(paddock.EInvalid, "the state of this %s sign-in does not match the one started in this browser: start again", p.Title)
	case q.Get("code") == "":
		return paddock.Errorf(paddock.EInvalid, "query parameter \"code\" is required")
	}
	http.SetCookie(w, &http.Cookie{Name: "paddock_oauth2", Path: "/api/v1/admin/oauth2/" + name, MaxAge: -1, HttpOnly: true})
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			err = paddock.Errorf(paddock.EUnauthorized, "%s did not accept the sign-in code: %s %s", p.Title, re.ErrorCode, re.ErrorDescription)
		} else {
			err = paddock.Errorf(paddock.EUnavailable, "%s cannot be reached to finish the sign-in: %v", p.Title, err)
		}
		s.recordLogin(r, name+":", nil, err)
		return err
	}
	id, err := fetchIdentity(ctx, cfg.Client(ctx, tok), name, p)
	if err != nil {
		s.recordLogin(r, name+":", nil, err)
		return err
	}
	u, err := s.oauthUser(r.Context(), name, p, id)
	s.recordLogin(r, loginName(u, name+":"+id.login), u, err)
	if err != nil {
		return err
	}
	if s.cfg.OAuth.SuccessURL == "" {
		return s.writeAdminToken(w, r, u)
	}
	t, claims, err := s.Tokens.Issue(r.Context(), u.ID)
	if err != nil {
		return err
	}
	frag := url.Values{"access_token": {t}, "token_type": {"Bearer"}, "expires_at": {strconv.FormatInt(claims.ExpiresAt.Unix(), 10)}}
	http.Redirect(w, r, s.cfg.OAuth.SuccessURL+"#"+frag.Encode(), http.StatusFound)
	return nil
}

// loginName names a login in the login log: the user's name, else the
// account.
func loginName(u *paddock.User, account string) string {
	if u != nil {
		return u.Username
	}
	return account
}

func cookieValue(c *http.Cookie) string {
	if c == nil {
		return ""
	}
	return c.Value
}

// oauthUser returns the user of an account: the linked one; else the one
// user whose email is the account's verified email, now linked; else,
// with AllowSignup, a new user.
func (s *Server) oauthUser(ctx context.Context, provider string, p OAuthProvider, id oauthIdentity) (*paddock.User, error) {
	uid, err := s.Identities.IdentityUser(ctx, provider, id.subject)
	if err == nil {
		return s.Users.User(ctx, uid)
	}
	if paddock.ErrorCode(err) != paddock.ENotFound {
		return nil, err
	}
	var u *paddock.User
	if id.email != "" && id.emailVerified {
		users, n, err := s.Users.Users(ctx, paddock.UserFilter{Email: &id.email, Limit: 2})
		if err != nil {
			return nil, err
		}
		if n == 1 {
			u = users[0]
		}
	}
	if u == nil {
		if !s.cfg.OAuth.AllowSignup {
			return nil, paddock.Errorf(paddock.EForbidden, "no Paddock user has %s account %s: an admin can create one with its verified email (%s), or allow sign-up (auth.oauth2.allow_signup)",
				p.Title, id.login, id.email)
		}
		if u, err = s.signup(ctx, id); err != nil {
			return nil, err
		}
	}
	if err := s.Identities.LinkIdentity(ctx, provider, id.subject, u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

// signup creates a user for an account, named after its login (or its
// email's local part), with a number added when the name is taken. It has
// no password: it signs in with the provider.
func (s *Server) signup(ctx context.Context, id oauthIdentity) (*paddock.User, error) {
	base := id.login
	if base == "" {
		base, _, _ = strings.Cut(id.email, "@")
	}
	base = strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, base)
	if len(base) > 56 {
		base = base[:56]
	}
	if len(base) < 2 {
		base = "user"
	}
	u := &paddock.User{Username: base, Nickname: id.name, Role: paddock.RoleUser}
	if id.emailVerified {
		u.Email = id.email
	}
	if len(u.Nickname) > 64 {
		u.Nickname = u.Nickname[:64]
	}
	for i := 2; ; i++ {
		err := s.Users.CreateUser(ctx, u)
		if paddock.ErrorCode(err) != paddock.EConflict || i > 20 {
			return u, err
		}
		u.Username = fmt.Sprintf("%s-%d", base, i)
	}
}

// fetchIdentity reads the signed-in account from the provider's API.
func fetchIdentity(ctx context.Context, hc *http.Client, provider string, p OAuthProvider) (oauthIdentity, error) {
	var id oauthIdentity
	if provider == "google" {
		var info struct {
			Sub           string `json:"sub"`
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
			Name          string `json:"name"`
		}
		if err := getJSON(ctx, hc, p, p.UserURL, &info); err != nil {
			return id, err
		}
		id = oauthIdentity{subject: info.Sub, login: info.Email, name: info.Name, email: info.Email, emailVerified: info.EmailVerified}
	} else {
		var user struct {
			ID    int64  `json:"id"`
			Login string `json:"login"`
			Name  string `json:"name"`
		}
		if err := getJSON(ctx, hc, p, p.UserURL, &user); err != nil {
			return id, err
		}
		id = oauthIdentity{subject: strconv.FormatInt(user.ID, 10), login: user.Login, name: user.Name}
		if user.ID == 0 {
			id.subject = ""
		}
		var emails []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if err := getJSON(ctx, hc, p, p.EmailsURL, &emails); err != nil {
			return id, err
		}
		for _, e := range emails {
			if e.Primary {
				id.email, id.emailVerified = e.Email, e.Verified
			}
		}
	}
	if id.subject == "" {
		return id, paddock.Errorf(paddock.EUnavailable, "%s did not say which account signed in", p.Title)
	}
	return id, nil
}

func getJSON(ctx context.Context, hc *http.Client, p OAuthProvider, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return paddock.Errorf(paddock.EUnavailable, "%s cannot be reached to read the account: %v", p.Title, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return paddock.Errorf(paddock.EUnavailable, "%s: reading the account: %v", p.Title, err)
	}
	if res.StatusCode != http.StatusOK {
		return paddock.Errorf(paddock.EUnavailable, "%s answered %s when asked for the account", p.Title, res.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return paddock.Errorf(paddock.EUnavailable, "%s answered with an account Paddock cannot read: %v", p.Title, err)
	}
	return nil
}
