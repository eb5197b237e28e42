package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

// Ports reaches TCP ports inside environments and records exposed ones.
type Ports interface {
	DialPort(ctx context.Context, id string, port int) (net.Conn, error)
	ExposePort(ctx context.Context, id string, port int) (*paddock.Environment, error)
}

type portRequest struct {
	Port int `json:"port" required:"true" minimum:"1" maximum:"65535"`
}

type portInfo struct {
	Port int    `json:"port"`
	URL  string `json:"url" description:"the authenticated proxy URL of the port"`
}

type portListResponse struct {
	Ports []portInfo `json:"ports"`
}

type portTicketResponse struct {
	URL       string    `json:"url" description:"open this in a browser: it signs in and redirects to the port"`
	ExpiresAt time.Time `json:"expires_at"`
}

type portParams struct {
	ID     string `path:"id"`
	Port   string `path:"port"`
	Path   string `path:"path"`
	Ticket string `query:"ticket" description:"a ticket from POST .../ports/{port}/ticket; exchanged for a cookie"`
}

type portOnlyParams struct {
	ID   string `path:"id"`
	Port string `path:"port"`
}

// portSessionTTL is how long a browser's cookie for one port lasts.
const portSessionTTL = 12 * time.Hour

// exposedPorts lists the ports the proxy serves for env: its policy's
// allowed_ingress_ports, which also holds the ports exposed later.
func exposedPorts(env *paddock.Environment) []int {
	if p := env.Isolation.NetworkPolicy; p != nil {
		ports := slices.Clone(p.AllowedIngressPorts)
		slices.Sort(ports)
		return slices.Compact(ports)
	}
	return nil
}

// baseURL is the scheme and host the caller reached this server at.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if s.trustedPeer(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host
}

func (s *Server) trustedPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && s.trusted(a)
}

func portPath(id string, port int) string {
	return "/api/v1/environments/" + id + "/ports/" + strconv.Itoa(port) + "/"
}

func (s *Server) handlePortList(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	out := portListResponse{Ports: []portInfo{}}
	for _, p := range exposedPorts(env) {
		out.Ports = append(out.Ports, portInfo{Port: p, URL: s.baseURL(r) + portPath(env.ID, p)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePortExpose(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	info, err := s.exposePort(w, r, env)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, info)
}

// exposePort reads a portRequest and serves that port of env through the
// proxy.
func (s *Server) exposePort(w http.ResponseWriter, r *http.Request, env *paddock.Environment) (portInfo, error) {
	var req portRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return portInfo{}, err
	}
	if req.Port < 1 || req.Port > 65535 {
		return portInfo{}, paddock.Errorf(paddock.EInvalid, "field \"port\" must be between 1 and 65535")
	}
	if _, err := s.Ports.ExposePort(r.Context(), env.ID, req.Port); err != nil {
		return portInfo{}, err
	}
	return portInfo{Port: req.Port, URL: s.baseURL(r) + portPath(env.ID, req.Port)}, nil
}

// handlePortTicket returns a URL that signs a browser in to one port.
func (s *Server) handlePortTicket(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	port, err := s.portOf(r, env)
	if err != nil {
		return err
	}
	t, exp := s.tickets.issue("port:"+strconv.Itoa(port), env.ID, principal(r).User.ID, s.now())
	return writeJSON(w, http.StatusCreated, portTicketResponse{URL: s.baseURL(r) + portPath(env.ID, port) + "?ticket=" + t, ExpiresAt: exp.UTC()})
}

// portOf parses {port} and checks that the environment exposes it.
func (s *Server) portOf(r *http.Request, env *paddock.Environment) (int, error) {
	v := r.PathValue("port")
	port, err := strconv.Atoi(v)
	if err != nil || port < 1 || port > 65535 {
		return 0, paddock.Errorf(paddock.EInvalid, "port %q is not a TCP port", v)
	}
	if !slices.Contains(exposedPorts(env), port) {
		return 0, paddock.Errorf(paddock.EForbidden, "port %d of environment %s is not exposed: list it in allowed_ingress_ports or POST /api/v1/environments/%s/ports", port, env.ID, env.ID)
	}
	return port, nil
}

const portCookie = "paddock_port"

// handlePortProxy forwards HTTP and WebSocket requests to a port inside an
// environment, through the guest, whatever the network policy. Browsers
// authenticate with a cookie scoped to the port's path, set from a ticket.
func (s *Server) handlePortProxy(w http.ResponseWriter, r *http.Request) error {
	id, portStr := r.PathValue("id"), r.PathValue("port")
	purpose := "port:" + portStr
	var p *paddock.Principal
	if tok := bearer(r); tok != "" {
		var err error
		if p, err = s.Auth.Authenticate(r.Context(), tok); err != nil {
			return err
		}
	} else if t := r.URL.Query().Get("ticket"); t != "" {
		uid, err := s.tickets.redeem(t, purpose, id, s.now())
		if err != nil {
			return err
		}
		if p, err = s.ticketPrincipal(r, uid); err != nil {
			return err
		}
		// Swap the ticket for a cookie and reload without it.
		session, exp := s.tickets.issueFor(purpose+":session", id, uid, s.now().Add(portSessionTTL))
		port, _ := strconv.Atoi(portStr)
		http.SetCookie(w, &http.Cookie{Name: portCookie, Value: session, Path: portPath(id, port), Expires: exp,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
		q := r.URL.Query()
		q.Del("ticket")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusFound)
		return nil
	} else if c, err := r.Cookie(portCookie); err == nil {
		uid, err := s.tickets.check(c.Value, purpose+":session", id, s.now(), false)
		if err != nil {
			return err
		}
		if p, err = s.ticketPrincipal(r, uid); err != nil {
			return err
		}
	} else {
		return paddock.Errorf(paddock.EUnauthorized, "missing credentials: send Authorization: Bearer <token>, or open the URL from POST %sticket in a browser", strings.TrimSuffix(r.URL.Path, r.PathValue("path")))
	}
	r = r.WithContext(paddock.NewContextWithPrincipal(r.Context(), p))
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	port, err := s.portOf(r, env)
	if err != nil {
		return err
	}
	if r.PathValue("path") == "" && !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links of the app resolve against the port's root.
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
		return nil
	}
	var dialErr error
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "127.0.0.1:" + strconv.Itoa(port)
			pr.Out.URL.Path = "/" + r.PathValue("path")
			pr.Out.URL.RawPath = ""
			pr.Out.Host = pr.In.Host
			// Paddock's credentials are not the app's business.
			pr.Out.Header.Del("Authorization")
			removeCookie(pr.Out, portCookie)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", portPath(env.ID, port))
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				c, err := s.Ports.DialPort(ctx, env.ID, port)
				dialErr = err
				return c, err
			},
			ResponseHeaderTimeout: 5 * time.Minute,
			DisableKeepAlives:     true,
		},
		FlushInterval: -1, // stream server-sent events and long polls as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if dialErr != nil {
				err = dialErr
			} else if r.Context().Err() == nil {
				err = paddock.Errorf(paddock.EUnavailable, "port %d of environment %s: %v", port, env.ID, err)
			}
			if paddock.ErrorCode(err) == paddock.EInternal {
				err = paddock.Errorf(paddock.EUnavailable, "nothing answers on port %d of environment %s", port, env.ID)
			}
			s.writeError(w, r, surfaceEnvironments, err)
		},
	}
	proxy.ServeHTTP(w, r)
	return nil
}

// removeCookie drops one cookie from an outgoing request.
func removeCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
}

func (s *Server) ticketPrincipal(r *http.Request, uid int64) (*paddock.Principal, error) {
	u, err := s.Users.User(r.Context(), uid)
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnauthorized, "the ticket's user no longer exists")
	}
	return &paddock.Principal{User: u}, nil
}
