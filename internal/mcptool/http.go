package mcptool

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// newTransport returns the HTTP transport for servers on public networks
// only, or for any server when private is set.
func newTransport(private bool) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !private {
		d.Control = refuseNonPublic
	}
	return &http.Transport{
		Proxy:               nil, // the address check must apply to the server, not to a proxy
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// addressError reports a dial to an address off the public internet.
type addressError struct{ addr netip.Addr }

func (e *addressError) Error() string {
	return fmt.Sprintf("address %s is not on a public network", e.addr)
}

// refuseNonPublic is a net.Dialer Control func: it runs after DNS
// resolution, on the address actually dialled.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !isPublic(ap.Addr()) {
		return &addressError{ap.Addr().Unmap().WithZone("")}
	}
	return nil
}

var (
	nonPublic = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),    // reserved and broadcast
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
		netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	}
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // IPv4 in the last 4 bytes
	sixToFour = netip.MustParsePrefix("2002::/16")    // IPv4 in bytes 2 to 5
)

// isPublic reports whether ip is an address on the public internet.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	if b := ip.As16(); nat64.Contains(ip) {
		ip = netip.AddrFrom4([4]byte(b[12:16]))
	} else if sixToFour.Contains(ip) {
		ip = netip.AddrFrom4([4]byte(b[2:6]))
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// origin returns u's scheme, host and port, with the default port filled in.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// statusKey is the context key of an operation's *atomic.Int32 that
// receives the status of its last HTTP response, since the SDK's errors give
// only its text.
type statusKey struct{}

// roundTripper adds a server's headers to its requests. It refuses requests
// to any other origin (a redirect or an SSE message endpoint elsewhere), so
// the headers, which often hold credentials, go nowhere else.
type roundTripper struct {
	base      http.RoundTripper
	origin    string
	headers   map[string]string
	userAgent string
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if o := origin(req.URL); o != t.origin {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("request to %s refused: not the server's origin %s", o, t.origin)
	}
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", t.userAgent)
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	resp, err := t.base.RoundTrip(req)
	if status, ok := req.Context().Value(statusKey{}).(*atomic.Int32); ok && err == nil {
		status.Store(int32(resp.StatusCode))
	}
	return resp, err
}

// withStatus returns ctx with a fresh HTTP status recorder.
func withStatus(ctx context.Context) (context.Context, *atomic.Int32) {
	status := new(atomic.Int32)
	return context.WithValue(ctx, statusKey{}, status), status
}
