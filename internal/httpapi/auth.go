package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

type loginRequest struct {
	Username string `json:"username" required:"true"`
	Password string `json:"password" required:"true"`
}

type loginResponse struct {
	Token     string       `json:"token"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      userResponse `json:"user"`
}

// userResponse is a user on the environments surface (seed 004): the id is a
// string there.
type userResponse struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Nickname string `json:"nickname,omitempty"`
	Role     string `json:"role"`
}

func toUserResponse(u *paddock.User) userResponse {
	return userResponse{ID: strconv.FormatInt(u.ID, 10), Username: u.Username, Email: u.Email, Nickname: u.Nickname, Role: string(u.Role)}
}

type adminLoginRequest struct {
	Username    string `json:"username" required:"true"`
	Password    string `json:"password" required:"true"`
	CaptchaID   string `json:"captcha_id,omitempty"`
	CaptchaCode string `json:"captcha_code,omitempty"`
}

type adminLoginResponse struct {
	AccessToken string         `json:"access_token"`
	TokenType   string         `json:"token_type"`
	ExpiresAt   time.Time      `json:"expires_at"`
	User        adminLoginUser `json:"user"`
}

type adminLoginUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Nickname string `json:"nickname"`
}

type captchaParams struct {
	Format string `query:"format" enum:"json,png" description:"png returns the image itself, with its id in the X-Captcha-ID header"`
}

type captchaResponse struct {
	CaptchaID     string    `json:"captcha_id"`
	ImageType     string    `json:"image_type"`
	Image         string    `json:"image"`
	ExpiresAt     time.Time `json:"expires_at"`
	ExpireSeconds int       `json:"expire_seconds"`
}

// decodeLogin reads a login body that may be JSON or form-encoded (seed 000
// logs in with `curl -d "username=admin&password=password"`).
func (s *Server) decodeLogin(w http.ResponseWriter, r *http.Request, v *adminLoginRequest) error {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case ct == "", mt == "application/json", mt == "text/plain", mt == "application/x-www-form-urlencoded", mt == "multipart/form-data":
	default:
		return paddock.Errorf(paddock.EUnsupported, "unsupported Content-Type %q: send application/json or a form", ct)
	}
	if mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if err := r.ParseMultipartForm(s.cfg.MaxBodyBytes); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return s.jsonError(err)
			}
			return paddock.Errorf(paddock.EInvalid, "the multipart/form-data body could not be read as a form (%v): send its parts with the boundary of the Content-Type, or send JSON", err)
		}
		v.Username, v.Password = r.PostFormValue("username"), r.PostFormValue("password")
		v.CaptchaID, v.CaptchaCode = r.PostFormValue("captcha_id"), r.PostFormValue("captcha_code")
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return s.jsonError(err)
	}
	trimmed := bytes.TrimSpace(body)
	if mt == "application/x-www-form-urlencoded" && len(trimmed) > 0 && trimmed[0] != '{' {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return paddock.Errorf(paddock.EInvalid, "malformed form body: %v", err)
		}
		v.Username, v.Password = form.Get("username"), form.Get("password")
		v.CaptchaID, v.CaptchaCode = form.Get("captcha_id"), form.Get("captcha_code")
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.Header.Del("Content-Type") // already checked above
	return s.decodeJSON(w, r, v)
}

// login checks a username and password, counting failures per username so
// that guessing one account's password is limited whatever the address.
// On a wrong password it returns the account that was tried with the
// error; callers must not use it but to log the attempt.
func (s *Server) login(r *http.Request, username, password string) (*paddock.User, error) {
	if strings.TrimSpace(username) == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "field \"username\" is required")
	}
	if password == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "field \"password\" is required")
	}
	rl := s.cfg.RateLimits
	key := "login_failures|" + strings.ToLower(username)
	if d, err := s.Limiter.Peek(r.Context(), key, rl.LoginFailures, rl.LoginWindow); err == nil && !d.Allowed {
		return nil, paddock.Errorf(paddock.ERateLimited, "too many failed logins for %q; retry in %d s", username, int(d.RetryAfter(s.now()).Seconds()+0.999))
	}
	u, err := s.Users.UserByUsername(r.Context(), username)
	if err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		return nil, err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	if !auth.CheckPasswordOrDummy(hash, password) {
		_, _ = s.Limiter.Allow(r.Context(), key, rl.LoginFailures, rl.LoginWindow)
		return u, paddock.Errorf(paddock.EUnauthorized, "invalid username or password") // u (or nil): whose account was tried, for the login log
	}
	return u, nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req adminLoginRequest
	if err := s.decodeLogin(w, r, &req); err != nil {
		return err
	}
	u, err := s.login(r, req.Username, req.Password)
	s.recordLogin(r, req.Username, u, err)
	if err != nil {
		return err
	}
	tok, claims, err := s.Tokens.Issue(r.Context(), u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, loginResponse{Token: tok, ExpiresAt: claims.ExpiresAt, User: toUserResponse(u)})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, toUserResponse(principal(r).User))
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) error {
	var req adminLoginRequest
	if err := s.decodeLogin(w, r, &req); err != nil {
		return err
	}
	if s.cfg.CaptchaEnabled {
		if err := s.Captchas.Verify(req.CaptchaID, req.CaptchaCode); err != nil {
			s.recordLogin(r, req.Username, nil, err)
			return err
		}
	}
	u, err := s.login(r, req.Username, req.Password)
	s.recordLogin(r, req.Username, u, err)
	if err != nil {
		return err
	}
	return s.writeAdminToken(w, r, u)
}

func (s *Server) writeAdminToken(w http.ResponseWriter, r *http.Request, u *paddock.User) error {
	tok, claims, err := s.Tokens.Issue(r.Context(), u.ID)
	if err != nil {
		return err
	}
	nick := u.Nickname
	if nick == "" {
		nick = u.Username
	}
	return writeJSON(w, http.StatusOK, adminLoginResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresAt: claims.ExpiresAt,
		User: adminLoginUser{ID: u.ID, Username: u.Username, Nickname: nick},
	})
}

// tokenOf returns the id of the access token the request authenticated with.
func tokenOf(r *http.Request) (string, error) {
	p := principal(r)
	if p.TokenID == "" {
		return "", paddock.Errorf(paddock.EInvalid, "this request authenticated with an API key; revoke API keys with DELETE /api/v1/api-keys/{id}")
	}
	return p.TokenID, nil
}

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request) error {
	id, err := tokenOf(r)
	if err != nil {
		return err
	}
	if err := s.Tokens.Revoke(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, messageResponse{Message: "logged out"})
}

func (s *Server) handleAdminRefresh(w http.ResponseWriter, r *http.Request) error {
	id, err := tokenOf(r)
	if err != nil {
		return err
	}
	if err := s.Tokens.Revoke(r.Context(), id); err != nil {
		return err
	}
	return s.writeAdminToken(w, r, principal(r).User)
}

func (s *Server) handleCaptcha(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Captchas.New()
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("format") {
	case "png":
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Captcha-ID", c.ID)
		_, err := w.Write(c.PNG)
		return err
	case "", "json":
	default:
		return paddock.Errorf(paddock.EInvalid, "format must be json or png")
	}
	return writeJSON(w, http.StatusOK, captchaResponse{
		CaptchaID: c.ID, ImageType: "base64", Image: base64.StdEncoding.EncodeToString(c.PNG),
		ExpiresAt: c.ExpiresAt.UTC(), ExpireSeconds: int(time.Until(c.ExpiresAt).Round(time.Second).Seconds()),
	})
}
