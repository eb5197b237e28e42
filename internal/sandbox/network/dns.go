package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNS answers open their addresses for the record's TTL, but at least
// minDNSTTL (a TTL of 0 would close the door before the client connects)
// and at most maxDNSTTL.
const (
	minDNSTTL = 30 * time.Second
	maxDNSTTL = 24 * time.Hour
)

// forwarder is the DNS server environments use, on the bridge address.
// It knows environments by source address (ports only send from their
// own, see the bridge table) and answers under their policy:
//
//   - with allowed_domains, only matching names, and the A records of the
//     answers open their addresses to that environment;
//   - without, everything when the environment has internet access;
//   - otherwise nothing (REFUSED), so DNS is no way out either.
//
// AAAA queries get an empty answer: environments have no IPv6 route, and
// an empty answer makes clients use IPv4 at once.
type forwarder struct {
	n      *Network
	client *dns.Client
	udp    *dns.Server
	tcp    *dns.Server
	wg     sync.WaitGroup

	mu     sync.Mutex
	denied map[netip.Addr]int64 // refused queries, by environment address
}

func startForwarder(n *Network) (*forwarder, error) {
	f := &forwarder{
		n:      n,
		client: &dns.Client{Timeout: 5 * time.Second},
		denied: map[netip.Addr]int64{},
	}
	addr := net.JoinHostPort(n.gw.String(), "53")
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("DNS forwarder: %w", err)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("DNS forwarder: %w", err)
	}
	f.udp = &dns.Server{PacketConn: pc, Handler: f}
	f.tcp = &dns.Server{Listener: ln, Handler: f}
	for _, s := range []*dns.Server{f.udp, f.tcp} {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := s.ActivateAndServe(); err != nil {
				n.log.Error("DNS forwarder stopped", "err", err)
			}
		}()
	}
	return f, nil
}

func (f *forwarder) close() error {
	err := errors.Join(f.udp.Shutdown(), f.tcp.Shutdown())
	f.wg.Wait()
	return err
}

func (f *forwarder) refused(ip netip.Addr) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.denied[ip]
}

// forget resets the count of an address being released.
func (f *forwarder) forget(ip netip.Addr) {
	f.mu.Lock()
	delete(f.denied, ip)
	f.mu.Unlock()
}

// ServeDNS implements dns.Handler.
func (f *forwarder) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	reply := func(m *dns.Msg) {
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := dns.MinMsgSize
			if o := req.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	}
	fail := func(rcode int) {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		reply(m)
	}
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		fail(dns.RcodeFormatError)
		return
	}
	src, err := netip.ParseAddrPort(w.RemoteAddr().String())
	if err != nil {
		fail(dns.RcodeRefused)
		return
	}
	ip := src.Addr().Unmap()
	f.n.mu.Lock()
	e, ok := f.n.state.byIP(ip)
	var id string
	var pol policy
	if ok {
		id, pol = e.ID, e.Policy
	}
	f.n.mu.Unlock()
	if !ok {
		fail(dns.RcodeRefused)
		return
	}
	q := req.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	filtered := len(pol.Domains) > 0
	if (filtered && !matchDomain(pol.Domains, name)) || (!filtered && !pol.Internet) {
		f.mu.Lock()
		f.denied[ip]++
		f.mu.Unlock()
		fail(dns.RcodeRefused)
		return
	}
	if q.Qtype == dns.TypeAAAA {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		reply(m)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.exchange(ctx, req)
	if err != nil {
		f.n.log.Warn("DNS forward", "env_id", id, "name", name, "err", err)
		fail(dns.RcodeServerFailure)
		return
	}
	if filtered {
		var addrs []netip.Addr
		ttl := maxDNSTTL
		for _, rr := range resp.Answer {
			a, isA := rr.(*dns.A)
			if !isA {
				continue
			}
			addr, ok := netip.AddrFromSlice(a.A.To4())
			if !ok || isPrivate(addr) {
				continue // never opened by a name, see privateRanges
			}
			addrs = append(addrs, addr)
			ttl = min(ttl, time.Duration(a.Hdr.Ttl)*time.Second)
		}
		ttl = max(ttl, minDNSTTL)
		// The addresses open before the client sees them, so its connect
		// right after the answer goes through.
		if err := f.n.allowDNSAddrs(ctx, id, addrs, ttl); err != nil {
			f.n.log.Warn("open DNS answer", "env_id", id, "name", name, "err", err)
			fail(dns.RcodeServerFailure)
			return
		}
	}
	resp.Id = req.Id
	reply(resp)
}

// exchange asks each upstream in turn, over TCP when the UDP answer was
// truncated.
func (f *forwarder) exchange(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	q := req.Copy()
	var errs []error
	for _, up := range f.n.cfg.Upstreams {
		resp, _, err := f.client.ExchangeContext(ctx, q, up)
		if err == nil && resp.Truncated {
			tcp := *f.client
			tcp.Net = "tcp"
			resp, _, err = tcp.ExchangeContext(ctx, q, up)
		}
		if err == nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", up, err))
	}
	return nil, errors.Join(errs...)
}

// matchDomain reports whether name matches a pattern: "example.com"
// matches itself only, "*.example.com" every name below it but not
// example.com itself.
func matchDomain(patterns []string, name string) bool {
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			if strings.HasSuffix(name, suffix) && len(name) > len(suffix) {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// normalizeDomainPattern lowercases d and checks it is a domain name,
// optionally prefixed with "*.".
func normalizeDomainPattern(d string) (string, bool) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	name := strings.TrimPrefix(d, "*.")
	if name == "" || len(name) > 253 {
		return "", false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return d, true
}

// resolvConfServers returns the nameservers of a resolv.conf as
// "ip:53".
func resolvConfServers(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, net.JoinHostPort(a.WithZone("").String(), "53"))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no nameserver", path)
	}
	return out, nil
}
