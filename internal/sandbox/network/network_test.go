package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/oci"
	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

var guestBinary string

func TestMain(m *testing.M) { os.Exit(sandboxtest.MainWithGuest(m, &guestBinary)) }

const testShift = 100000

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randByte() int {
	b := make([]byte, 1)
	rand.Read(b)
	return int(b[0])
}

// world is one test's fake internet: two test hosts in network namespaces
// of their own (198.18.R.1 and 198.19.R.1, serving HTTP on 8000), a DNS
// upstream on the host's loopback, a server on every host address, and a
// Network on a bridge, table and subnet of its own, so tests run in
// parallel with each other and with other packages.
type world struct {
	net      *Network
	rt       *oci.Runtime
	hostA    netip.Addr // reachable through 198.18.R.0/30
	hostB    netip.Addr // 198.19.R.1, never listed
	hostPort int        // a TCP server on all of the host's addresses
}

func newWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	sandboxtest.RequireRoot(t, "mkfs.ext4", "runc", "nft", "ip")
	r := randByte()
	w := &world{
		hostA: netip.AddrFrom4([4]byte{198, 18, byte(r), 1}),
		hostB: netip.AddrFrom4([4]byte{198, 19, byte(r), 1}),
	}
	testHost(t, w.hostA)
	testHost(t, w.hostB)

	// Anything on the host: environments must never reach it.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "host") }))
	w.hostPort = ln.Addr().(*net.TCPAddr).Port

	dnsAddr := testDNS(t, w.hostA)
	suffix := randHex(2)
	cfg.StateDir = t.TempDir()
	cfg.Bridge = "pdkt" + suffix
	cfg.Table = "paddock_t" + suffix
	cfg.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(randByte()), 0}), 24)
	cfg.Upstreams = []string{dnsAddr}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.net = n
	t.Cleanup(func() {
		n.Close()
		if err := n.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if out, err := exec.Command("nft", "list", "table", "inet", cfg.Table).CombinedOutput(); err == nil {
			t.Errorf("table left after Destroy:\n%s", out)
		}
		if _, err := netlink.LinkByName(cfg.Bridge); err == nil {
			t.Errorf("bridge %s left after Destroy", cfg.Bridge)
		}
	})

	state, err := os.MkdirTemp("", "paddock-state-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o711) // the user namespaces traverse it
	t.Cleanup(func() { os.RemoveAll(state) })
	rt, err := oci.New(oci.Config{StateDir: state, GuestBinary: guestBinary, UIDShift: testShift, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the Network's cleanup, so it runs before it.
	t.Cleanup(func() { rt.Close() })
	w.rt = rt
	return w
}

// testHost runs an HTTP server on addr:8000 in a namespace of its own,
// connected to the host by a veth pair on addr's /30.
func testHost(t *testing.T, addr netip.Addr) {
	t.Helper()
	name := "pdkt-h-" + randHex(4)
	link := "pdkh" + randHex(4)
	a := addr.As4()
	hostSide := netip.AddrFrom4([4]byte{a[0], a[1], a[2], a[3] + 1})
	cmds := [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"ip", "addr", "add", hostSide.String() + "/30", "dev", link},
		{"ip", "link", "set", link, "up"},
		{"ip", "-n", name, "addr", "add", addr.String() + "/30", "dev", "eth0"},
		{"ip", "-n", name, "link", "set", "eth0", "up"},
		{"ip", "-n", name, "link", "set", "lo", "up"},
		{"ip", "-n", name, "route", "add", "default", "via", hostSide.String()},
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", link).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	ln, err := listenIn(name, net.JoinHostPort(addr.String(), "8000"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "test host") }))
}

// listenIn opens a TCP listener in the named network namespace: a socket
// belongs to the namespace it was created in, whichever thread serves it
// later.
func listenIn(name, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, err
	}
	ln, lerr := net.Listen("tcp4", addr)
	if err := netns.Set(orig); err != nil {
		panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
	}
	return ln, lerr
}

// testDNS runs an upstream resolver on the host's loopback that answers
// names under allowed.test and other.test with target, and NXDOMAIN
// otherwise. It returns its address.
func testDNS(t *testing.T, target netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		if strings.HasSuffix(q.Name, ".allowed.test.") || strings.HasSuffix(q.Name, ".other.test.") {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
					A:   target.AsSlice(),
				})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

type envOpts struct {
	owner int64
	class string
	pol   *paddock.NetworkPolicy
}

// create starts environments concurrently and stops them at the end.
func (w *world) create(t *testing.T, envs map[string]envOpts) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(envs))
	for id, o := range envs {
		class := o.class
		if class == "" {
			class = sandbox.ClassRunc
		}
		img := sandboxtest.PythonImage(t, testShift)
		spec := &sandbox.Spec{
			ID: id,
			Env: &paddock.Environment{
				ID: id, Name: id, OwnerID: o.owner, Image: img.Name,
				Isolation: paddock.Isolation{NetworkPolicy: o.pol},
			},
			Image: img, RuntimeClass: class,
			MemoryBytes: 256 << 20, StorageBytes: 128 << 20, PidsLimit: 256,
		}
		t.Cleanup(func() {
			if err := w.rt.Stop(context.Background(), id, 0); err != nil {
				t.Errorf("stop %s: %v", id, err)
			}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.rt.Create(context.Background(), spec); err != nil {
				errs <- fmt.Errorf("create %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (w *world) exec(t *testing.T, id string, args ...string) *paddock.ExecResult {
	t.Helper()
	res, err := w.rt.Exec(context.Background(), id, &paddock.ExecRequest{Command: args, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("exec in %s: %v", id, err)
	}
	return res
}

// probeScript opens a TCP connection to each host:port argument at once
// and prints {"host:port": "ok" or the error's class}.
const probeScript = `
import json, socket, sys, threading
res = {}
def probe(t):
    h, p = t.rsplit(":", 1)
    try:
        socket.create_connection((h, int(p)), timeout=1.5).close()
        res[t] = "ok"
    except Exception as e:
        res[t] = type(e).__name__
ts = [threading.Thread(target=probe, args=(a,)) for a in sys.argv[1:]]
[x.start() for x in ts]
[x.join() for x in ts]
print(json.dumps(res))
`

// reach reports, for each target, whether id can open a TCP connection to
// it.
func (w *world) reach(t *testing.T, id string, targets ...string) map[string]bool {
	t.Helper()
	res := w.exec(t, id, append([]string{"python3", "-c", probeScript}, targets...)...)
	var got map[string]string
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("probe from %s: %v: %+v", id, err, res)
	}
	out := map[string]bool{}
	for k, v := range got {
		out[k] = v == "ok"
	}
	return out
}

// expectReach checks id reaches exactly the targets marked true.
func (w *world) expectReach(t *testing.T, id string, want map[string]bool) {
	t.Helper()
	var targets []string
	for k := range want {
		targets = append(targets, k)
	}
	got := w.reach(t, id, targets...)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s -> %s: reachable=%v, want %v", id, k, got[k], v)
		}
	}
}

// resolve returns what id's resolver says of name: the address, or the
// error.
func (w *world) resolve(t *testing.T, id, name string) string {
	t.Helper()
	res := w.exec(t, id, "python3", "-c", `
import socket, sys
try:
    print(socket.gethostbyname(sys.argv[1]))
except Exception as e:
    print("error:", e)
`, name)
	return strings.TrimSpace(res.Stdout)
}

// serve starts a TCP server on each port in id, detached from the exec.
func (w *world) serve(t *testing.T, id string, ports ...int) {
	t.Helper()
	for _, p := range ports {
		res := w.exec(t, id, "python3", "-c", `
import subprocess, sys
subprocess.Popen(["python3", "-m", "http.server", sys.argv[1]], start_new_session=True,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
`, fmt.Sprint(p))
		if res.ExitCode != 0 {
			t.Fatalf("serve in %s: %+v", id, res)
		}
	}
	// Wait until they listen: a Python start can take seconds on a
	// loaded CI machine.
	for _, p := range ports {
		res := w.exec(t, id, "python3", "-c", `
import socket, sys, time
deadline = time.time() + 20
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); break
    except OSError:
        if time.time() > deadline:
            sys.exit("not listening")
        time.sleep(0.05)
`, fmt.Sprint(p))
		if res.ExitCode != 0 {
			t.Fatalf("server on port %d in %s: %+v", p, id, res)
		}
	}
}

func ep(a netip.Addr, port int) string { return net.JoinHostPort(a.String(), fmt.Sprint(port)) }

func ptr[T any](v T) *T { return &v }

// TestPolicyRunc runs every rule against real runc environments.
func TestPolicyRunc(t *testing.T) {
	w := newWorld(t, Config{})
	suffix := randHex(3)
	id := func(s string) string { return "net-" + s + "-" + suffix }
	internet, cidr, none, dnsEnv := id("internet"), id("cidr"), id("none"), id("dns")
	peer, loner, other := id("peer"), id("loner"), id("other")
	w.create(t, map[string]envOpts{
		internet: {owner: 1, pol: &paddock.NetworkPolicy{AllowClusterInternal: true}},
		cidr:     {owner: 1, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false), AllowedEgressCIDRs: []string{w.hostA.String() + "/30"}}},
		none:     {owner: 1, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false)}},
		dnsEnv:   {owner: 1, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false), AllowedDomains: []string{"*.allowed.test"}}},
		peer:     {owner: 1, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false), AllowClusterInternal: true, AllowedIngressPorts: []int{8080}}},
		loner:    {owner: 1, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false)}},
		other:    {owner: 2, pol: &paddock.NetworkPolicy{AllowClusterInternal: true}},
	})
	addr := func(id string) netip.Addr {
		a, err := w.net.Address(id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	gw := w.net.Gateway()
	hostIP := firstHostAddr(t)
	// Never: the host on any of its addresses, the bridge's other ports,
	// metadata.
	never := map[string]bool{
		ep(gw, w.hostPort):     false,
		ep(gw, 22):             false,
		ep(hostIP, w.hostPort): false,
		"169.254.169.254:80":   false,
		ep(netip.MustParseAddr("127.0.0.1"), 8000): false, // its own loopback, nothing listens
	}
	with := func(m map[string]bool) map[string]bool {
		out := map[string]bool{}
		for k, v := range never {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}

	t.Run("internet", func(t *testing.T) {
		w.expectReach(t, internet, with(map[string]bool{ep(w.hostA, 8000): true, ep(w.hostB, 8000): true}))
		if got := w.resolve(t, internet, "www.other.test"); got != w.hostA.String() {
			t.Errorf("resolve with internet: got %q", got)
		}
		res := w.exec(t, internet, "python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)", "http://"+ep(w.hostA, 8000)+"/")
		if strings.TrimSpace(res.Stdout) != "200" {
			t.Errorf("HTTP with internet: %+v", res)
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
			t.Errorf("ip_forward = %q", b)
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/neigh/" + w.net.cfg.Bridge + "/proxy_delay"); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("proxy_delay = %q", b)
		}
	})
	t.Run("cidr only", func(t *testing.T) {
		w.expectReach(t, cidr, with(map[string]bool{ep(w.hostA, 8000): true, ep(w.hostB, 8000): false}))
		if got := w.resolve(t, cidr, "www.other.test"); !strings.HasPrefix(got, "error") {
			t.Errorf("resolve without internet: got %q", got)
		}
	})
	t.Run("no internet", func(t *testing.T) {
		before := deniedCount(t, w.net, none)
		w.expectReach(t, none, with(map[string]bool{ep(w.hostA, 8000): false, ep(w.hostB, 8000): false}))
		if got := w.resolve(t, none, "www.other.test"); !strings.HasPrefix(got, "error") {
			t.Errorf("resolve without internet: got %q", got)
		}
		after := deniedCount(t, w.net, none)
		// Seven refused targets and one refused query, at least.
		if after-before < 8 {
			t.Errorf("denied count went from %d to %d", before, after)
		}
		if got, err := w.rt.DeniedCounts(context.Background()); err != nil || got[none] < after {
			t.Errorf("runtime DeniedCounts = %v, %v; want %s >= %d", got, err, none, after)
		}
	})
	t.Run("domains", func(t *testing.T) {
		// Before a lookup the address is closed.
		w.expectReach(t, dnsEnv, with(map[string]bool{ep(w.hostA, 8000): false}))
		if got := w.resolve(t, dnsEnv, "evil.other.test"); !strings.HasPrefix(got, "error") {
			t.Errorf("resolve unlisted name: got %q", got)
		}
		if got := w.resolve(t, dnsEnv, "allowed.test"); !strings.HasPrefix(got, "error") {
			t.Errorf("resolve the bare suffix of *.allowed.test: got %q", got)
		}
		w.expectReach(t, dnsEnv, map[string]bool{ep(w.hostA, 8000): false})
		if got := w.resolve(t, dnsEnv, "api.allowed.test"); got != w.hostA.String() {
			t.Fatalf("resolve allowed name: got %q", got)
		}
		w.expectReach(t, dnsEnv, with(map[string]bool{ep(w.hostA, 8000): true, ep(w.hostB, 8000): false}))
		out, err := exec.Command("nft", "list", "set", "inet", w.net.cfg.Table, "dns_"+namesFor(dnsEnv).hash).CombinedOutput()
		if err != nil || !strings.Contains(string(out), w.hostA.String()+" timeout 30s") {
			t.Errorf("dns set: %v\n%s", err, out)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		w.serve(t, peer, 8080, 8081)
		w.serve(t, loner, 8080)
		w.serve(t, other, 8080)
		// Same owner, both allow: yes, both ways, every port.
		w.expectReach(t, internet, map[string]bool{
			ep(addr(peer), 8080): true, ep(addr(peer), 8081): true,
			ep(addr(loner), 8080): false, // does not allow cluster traffic
			ep(addr(other), 8080): false, // another owner
		})
		w.serve(t, internet, 8080)
		w.expectReach(t, peer, map[string]bool{ep(addr(internet), 8080): true, ep(addr(other), 8080): false})
		w.expectReach(t, loner, map[string]bool{ep(addr(internet), 8080): false, ep(addr(peer), 8080): false})
		w.expectReach(t, other, map[string]bool{ep(addr(internet), 8080): false, ep(addr(peer), 8080): false})
	})
	t.Run("ingress from the host", func(t *testing.T) {
		// peer serves 8080 and 8081 (see cluster) and lists 8080 only.
		if c, err := net.DialTimeout("tcp", ep(addr(peer), 8080), 2*time.Second); err != nil {
			t.Errorf("host -> listed port: %v", err)
		} else {
			c.Close()
		}
		if c, err := net.DialTimeout("tcp", ep(addr(peer), 8081), time.Second); err == nil {
			c.Close()
			t.Errorf("host reached an unlisted port")
		}
		if c, err := net.DialTimeout("tcp", ep(addr(loner), 8080), time.Second); err == nil {
			c.Close()
			t.Errorf("host reached an environment without ingress ports")
		}
	})
	t.Run("resolv.conf", func(t *testing.T) {
		res := w.exec(t, loner, "cat", "/etc/resolv.conf")
		if !strings.Contains(res.Stdout, "nameserver "+gw.String()) {
			t.Errorf("resolv.conf: %q", res.Stdout)
		}
	})

	t.Run("teardown", func(t *testing.T) {
		ctx := context.Background()
		for _, id := range []string{internet, cidr, none, dnsEnv, peer, loner, other} {
			if err := w.rt.Stop(ctx, id, 0); err != nil {
				t.Fatal(err)
			}
		}
		assertClean(t, w.net)
	})
}

// TestPolicyGVisor checks gVisor's netstack on the same wiring.
func TestPolicyGVisor(t *testing.T) {
	sandboxtest.RequireRoot(t, "runsc")
	w := newWorld(t, Config{})
	suffix := randHex(3)
	internet, none := "gnet-internet-"+suffix, "gnet-none-"+suffix
	w.create(t, map[string]envOpts{
		internet: {owner: 1, class: sandbox.ClassGVisor},
		none:     {owner: 1, class: sandbox.ClassGVisor, pol: &paddock.NetworkPolicy{AllowInternet: ptr(false)}},
	})
	gw := w.net.Gateway()
	w.expectReach(t, internet, map[string]bool{ep(w.hostA, 8000): true, ep(gw, w.hostPort): false, "169.254.169.254:80": false})
	if got := w.resolve(t, internet, "www.allowed.test"); got != w.hostA.String() {
		t.Errorf("resolve under gVisor: got %q", got)
	}
	w.expectReach(t, none, map[string]bool{ep(w.hostA, 8000): false, ep(gw, w.hostPort): false})
	if n := deniedCount(t, w.net, none); n == 0 {
		t.Errorf("denied count under gVisor = %d", n)
	}
	for _, id := range []string{internet, none} {
		if err := w.rt.Stop(context.Background(), id, 0); err != nil {
			t.Fatal(err)
		}
	}
	assertClean(t, w.net)
}

// assertClean checks no environment has anything left on the host.
func assertClean(t *testing.T, n *Network) {
	t.Helper()
	if ids, _ := n.List(context.Background()); len(ids) != 0 {
		t.Errorf("IPAM still holds %v", ids)
	}
	out, err := exec.Command("nft", "list", "table", "inet", n.cfg.Table).CombinedOutput()
	if err != nil {
		t.Fatalf("list table: %v: %s", err, out)
	}
	text := string(out)
	for _, s := range []string{"out_", "in_", "deny_", "allow_", "dns_"} {
		if strings.Contains(text, s) {
			t.Errorf("inet table still has %s objects:\n%s", s, text)
		}
	}
	// Environment addresses (in maps and cluster sets) are gone; the
	// subnet and the gateway stay in the base rules.
	prefix := strings.TrimSuffix(n.cfg.Subnet.Addr().String(), "0")
	if strings.Count(text, prefix) != strings.Count(text, n.cfg.Subnet.String())+strings.Count(text, n.gw.String()+" ") {
		t.Errorf("inet table still mentions environment addresses:\n%s", text)
	}
	out, _ = exec.Command("nft", "list", "table", "bridge", n.cfg.Table).CombinedOutput()
	if strings.Contains(string(out), "port_") {
		t.Errorf("bridge table still has ports:\n%s", out)
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, n.aliasPrefix()) {
			t.Errorf("link %s (%s) left", l.Attrs().Name, l.Attrs().Alias)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(n.cfg.StateDir, "netns")); len(ents) != 0 {
		t.Errorf("network namespaces left: %v", ents)
	}
}

// firstHostAddr returns an IPv4 address of the host outside loopback.
func firstHostAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		if !ip.IsLoopback() && !strings.HasPrefix(a.Label, "pdk") {
			return ip
		}
	}
	t.Skip("the host has no IPv4 address besides loopback")
	return netip.Addr{}
}

// TestRestart checks a new Network picks up what an old one set up:
// addresses, rules, counters, DNS service and teardown.
func TestRestart(t *testing.T) {
	sandboxtest.RequireRoot(t, "nft", "ip")
	suffix := randHex(2)
	cfg := Config{
		StateDir:  t.TempDir(),
		Bridge:    "pdkt" + suffix,
		Table:     "paddock_t" + suffix,
		Subnet:    netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, byte(randByte()), 0}), 24),
		Upstreams: []string{"127.0.0.1:9"},
	}
	ctx := context.Background()
	n1, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n1.Destroy(ctx) })
	id := "restart-" + suffix
	spec := &sandbox.Spec{ID: id, Env: &paddock.Environment{ID: id, OwnerID: 1, Isolation: paddock.Isolation{
		NetworkPolicy: &paddock.NetworkPolicy{AllowInternet: ptr(false), AllowClusterInternal: true},
	}}}
	ns, err := n1.Setup(ctx, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Setup(ctx, spec, ""); paddock.ErrorCode(err) != paddock.EConflict {
		t.Errorf("second Setup: %v, want a conflict", err)
	}
	ip, _ := n1.Address(id)
	n1.Close()

	n2, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close(); n2.Destroy(ctx) })
	if ids, _ := n2.List(ctx); len(ids) != 1 || ids[0] != id {
		t.Fatalf("List after restart = %v", ids)
	}
	if ip2, _ := n2.Address(id); ip2 != ip {
		t.Fatalf("address after restart = %v, want %v", ip2, ip)
	}
	// The namespace is still wired: a denied connection from it counts.
	cmd := exec.Command("nsenter", "--net="+ns, "/usr/bin/python3", "-c",
		"import socket\ntry: socket.create_connection(('198.18.255.1', 80), timeout=0.5)\nexcept Exception: pass")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("probe: %v: %s", err, out)
	}
	if c := deniedCount(t, n2, id); c == 0 {
		t.Errorf("denied count after restart = %d", c)
	}
	// The DNS forwarder answers it (REFUSED: no internet).
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeA)
	if _, err := exec.LookPath("nsenter"); err == nil {
		out, err := exec.Command("nsenter", "--net="+ns, "/usr/bin/python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 53))
print(s.recv(512)[3] & 15)`, packHex(t, m), n2.Gateway().String()).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(dns.RcodeRefused) {
			t.Errorf("DNS after restart: %v: %s", err, out)
		}
	}
	if err := n2.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := n2.Teardown(ctx, id); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	assertClean(t, n2)
}

func packHex(t *testing.T, m *dns.Msg) string {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// deniedCount returns id's entry of n's DeniedCounts, failing the test
// when it has none.
func deniedCount(t *testing.T, n *Network, id string) int64 {
	t.Helper()
	counts, err := n.DeniedCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, ok := counts[id]
	if !ok {
		t.Fatalf("no denied count for %s in %v", id, counts)
	}
	return c
}
