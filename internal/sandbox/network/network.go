// Package network gives sandbox environments their network and enforces
// each environment's paddock.NetworkPolicy on the host.
//
// Every environment gets a veth pair: one end is eth0 in the environment's
// network namespace, the other a port of the Paddock bridge (pdk0 by
// default), whose first address is the environment's default gateway and
// DNS server. Addresses come from a small IPAM persisted in the state
// directory, so they survive a restart. Egress is masqueraded.
//
// The policy lives in nftables tables Paddock owns (inet and bridge
// families, "paddock" by default), so nothing else on the host is touched:
//
//   - an environment never reaches the host itself (except Paddock's DNS
//     forwarder on the gateway address), link-local and metadata
//     addresses, loopback, multicast or the bridge subnet;
//   - private ranges (10/8, 172.16/12, 192.168/16, 100.64/10) only when
//     allowed_egress_cidrs lists them;
//   - allow_internet opens every other IPv4 destination;
//   - allowed_egress_cidrs opens those destinations;
//   - allowed_domains makes the DNS forwarder answer only matching names
//     for that environment, and opens the addresses it answers with for
//     the record's TTL;
//   - allow_cluster_internal is symmetric: an environment reaches another
//     only when both allow it and both belong to the same owner;
//   - nothing from outside reaches an environment; the host may open TCP
//     connections to allowed_ingress_ports (for Paddock's port proxy).
//
// Bridge ports are isolated from each other and may only send from their
// own address, so an environment cannot bypass the router or spoof
// another. IPv6 is not routed.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// Defaults of Config.
const (
	DefaultBridge = "pdk0"
	DefaultTable  = "paddock"
)

// DefaultSubnet is rarely used by home, office or cloud networks.
var DefaultSubnet = netip.MustParsePrefix("10.209.0.0/16")

// Config configures the network.
type Config struct {
	StateDir string       // the IPAM state and namespaces of gVisor environments
	Bridge   string       // bridge name; default DefaultBridge
	Subnet   netip.Prefix // IPv4 subnet of environments; default DefaultSubnet
	Table    string       // nftables table name (inet and bridge); default DefaultTable
	// Upstreams are the resolvers the DNS forwarder asks, as "ip:port";
	// default: the nameservers of /etc/resolv.conf.
	Upstreams []string
	// DenyInternetByDefault makes allow_internet false for policies that
	// leave it unset (the default is true).
	DenyInternetByDefault bool
	// DenyCIDRs are destinations no environment may reach whatever its
	// policy says, on top of the built-in ones: where Paddock's API or
	// database run when they are not on this host, for example.
	DenyCIDRs []netip.Prefix
	Logger    *slog.Logger
}

// Network wires environments into the bridge and enforces their policy.
// It is safe for concurrent use.
type Network struct {
	cfg Config
	gw  netip.Addr // the bridge's address
	log *slog.Logger
	dns *forwarder

	mu    sync.Mutex // serializes changes to state, links and rules
	state *ipam
	lock  *hostLock // the host-wide lock of Table and Bridge
}

// New sets up the bridge, the base rules and the DNS forwarder, and picks
// up the environments a previous Network left running. Call Close to stop
// the forwarder.
func New(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("network: StateDir is required")
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("network: bridge name %q is longer than 15 characters", cfg.Bridge)
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = DefaultSubnet
	}
	cfg.Subnet = cfg.Subnet.Masked()
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 29 {
		return nil, fmt.Errorf("network: subnet %s must be IPv4 and hold at least 6 addresses", cfg.Subnet)
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Two Paddocks managing one table and bridge would hand out the same
	// addresses and delete each other's rules: refuse to start the second.
	lock, err := lockNetwork(cfg.Table, cfg.Bridge)
	if err != nil {
		return nil, err
	}
	defer func() {
		if lock != nil { // not handed to the Network: New failed
			lock.release()
		}
	}()
	if len(cfg.Upstreams) == 0 {
		ups, err := resolvConfServers("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("network: no upstream resolver configured: %w", err)
		}
		cfg.Upstreams = ups
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "netns"), 0o700); err != nil {
		return nil, fmt.Errorf("network: create state dir: %w", err)
	}
	n := &Network{cfg: cfg, gw: cfg.Subnet.Addr().Next(), log: cfg.Logger}
	st, err := loadIPAM(filepath.Join(cfg.StateDir, "ipam.json"), cfg.Subnet)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	n.state = st
	if err := n.setupBridge(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := nft(ctx, n.baseRules()); err != nil {
		return nil, fmt.Errorf("network: install base rules: %w", err)
	}
	n.sweepLinks()
	n.dns, err = startForwarder(n)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	n.lock, lock = lock, nil
	return n, nil
}

// lockNetwork takes the host-wide lock of a table and bridge for the
// process's lifetime.
func lockNetwork(table, bridge string) (*hostLock, error) {
	if err := os.MkdirAll("/run/paddock", 0o755); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	l, err := lockPath(filepath.Join("/run/paddock", "net-"+table+"-"+bridge+".lock"))
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("network: nftables table %q and bridge %q are in use by another Paddock on this host; "+
			"give each server its own PADDOCK_NETWORK_BRIDGE, PADDOCK_NETWORK_TABLE and PADDOCK_NETWORK_SUBNET", table, bridge)
	}
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	return l, nil
}

// hostLock is an exclusive flock on a file that exists while it is held:
// release removes it, so that servers with names of their own (tests make
// many) leave no files behind.
type hostLock struct {
	f    *os.File
	path string
}

// lockPath takes the lock at path without waiting; a lock held by another
// process fails with unix.EWOULDBLOCK. A file removed by a release between
// this open and this flock is not the lock any more: then it tries again
// on the path's new file.
func lockPath(path string) (*hostLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if beforeFlock != nil {
			beforeFlock()
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, err
		}
		var held, named unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &held); err != nil {
			f.Close()
			return nil, err
		}
		if err := unix.Stat(path, &named); err == nil && named.Dev == held.Dev && named.Ino == held.Ino {
			return &hostLock{f: f, path: path}, nil
		}
		f.Close()
	}
}

// beforeFlock, when set (by a test), runs between lockPath's open and
// flock.
var beforeFlock func()

// release removes the lock's file, then unlocks it.
func (l *hostLock) release() {
	os.Remove(l.path)
	l.f.Close()
}

// Close stops the DNS forwarder and releases the network's lock.
// Environments keep their links and rules; a new Network on the same
// state picks them up.
func (n *Network) Close() error {
	err := n.dns.close()
	if n.lock != nil {
		n.lock.release()
	}
	return err
}

// Gateway is the bridge's address: the environments' default route and
// DNS server.
func (n *Network) Gateway() netip.Addr { return n.gw }

// ResolvConf is the /etc/resolv.conf every environment gets: the DNS
// forwarder on the gateway only, so names resolve under the policy.
func (n *Network) ResolvConf() []byte {
	return []byte("# Written by Paddock: the environment's DNS goes through its network policy.\nnameserver " + n.gw.String() + "\noptions ndots:0\n")
}

// policy is an environment's NetworkPolicy with defaults resolved and
// values parsed.
type policy struct {
	Internet bool           `json:"internet"`
	CIDRs    []netip.Prefix `json:"cidrs,omitempty"`
	Ports    []int          `json:"ports,omitempty"`
	Cluster  bool           `json:"cluster,omitempty"`
	Domains  []string       `json:"domains,omitempty"`
}

// ValidatePolicy checks p's values; nil is valid. Errors are
// paddock.EInvalid and name the field.
func ValidatePolicy(p *paddock.NetworkPolicy) error {
	_, err := parsePolicy(p, false)
	return err
}

func parsePolicy(p *paddock.NetworkPolicy, denyInternet bool) (policy, error) {
	pol := policy{Internet: !denyInternet}
	if p == nil {
		return pol, nil
	}
	if p.AllowInternet != nil {
		pol.Internet = *p.AllowInternet
	}
	pol.Cluster = p.AllowClusterInternal
	for _, s := range p.AllowedEgressCIDRs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			// A bare address means that host.
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return pol, paddock.Errorf(paddock.EInvalid, "network_policy.allowed_egress_cidrs: %q is not a CIDR", s)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if !pfx.Addr().Is4() {
			return pol, paddock.Errorf(paddock.EInvalid, "network_policy.allowed_egress_cidrs: %q: only IPv4 is routed", s)
		}
		pol.CIDRs = append(pol.CIDRs, pfx.Masked())
	}
	for _, port := range p.AllowedIngressPorts {
		if port < 1 || port > 65535 {
			return pol, paddock.Errorf(paddock.EInvalid, "network_policy.allowed_ingress_ports: %d is not a port", port)
		}
		if !slices.Contains(pol.Ports, port) {
			pol.Ports = append(pol.Ports, port)
		}
	}
	for _, d := range p.AllowedDomains {
		norm, ok := normalizeDomainPattern(d)
		if !ok {
			return pol, paddock.Errorf(paddock.EInvalid, "network_policy.allowed_domains: %q is not a domain name or *.domain pattern", d)
		}
		pol.Domains = append(pol.Domains, norm)
	}
	return pol, nil
}

// names derives the host-side names of id's objects. Interface names hold
// 15 bytes and ids up to 63, so they use a hash; the id itself is kept in
// the IPAM state and the link's alias.
type names struct {
	hash string // 10 hex digits
	veth string // host end of the veth pair
}

func namesFor(id string) names {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:5])
	return names{hash: h, veth: "pdv" + h}
}

// Setup connects environment spec to the bridge and applies its policy:
// Prepare, then Connect. netns is the path of the environment's network
// namespace, such as /proc/<pid>/ns/net of a created runc container; ""
// makes Setup create a namespace of its own and return its path, for
// runtimes that must find their interfaces before they start (gVisor).
// On error, Teardown undoes what was made.
func (n *Network) Setup(ctx context.Context, spec *sandbox.Spec, netns string) (string, error) {
	ns, err := n.Prepare(ctx, spec, netns == "")
	if err != nil {
		return "", err
	}
	if err := n.Connect(ctx, spec.ID, netns); err != nil {
		return "", err
	}
	return ns, nil
}

// Prepare reserves environment spec's address and puts its policy in
// force, before the environment has any interface: nothing it runs can
// send a packet before its rules exist. It needs no namespace yet, so
// drivers run it alongside the container's creation. ownNetns makes
// Prepare also create a namespace, whose path it returns. Connect
// finishes the job. On error, Teardown undoes what was made.
func (n *Network) Prepare(ctx context.Context, spec *sandbox.Spec, ownNetns bool) (string, error) {
	if spec.Env == nil {
		return "", paddock.Errorf(paddock.EInvalid, "environment %s: spec has no environment", spec.ID)
	}
	pol, err := parsePolicy(spec.Env.Isolation.NetworkPolicy, n.cfg.DenyInternetByDefault)
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.state.env(spec.ID); ok {
		return "", paddock.Errorf(paddock.EConflict, "environment %s already has a network", spec.ID)
	}
	netns := ""
	if ownNetns {
		netns = filepath.Join(n.cfg.StateDir, "netns", spec.ID)
	}
	// The allocation is recorded before anything exists on the host, so
	// Teardown (and List, after a crash) always knows what to remove.
	e, err := n.state.allocate(spec.ID, spec.Env.OwnerID, pol, ownNetns, netns)
	if err != nil {
		return "", fmt.Errorf("environment %s: %w", spec.ID, err)
	}
	if ownNetns {
		if err := createNetns(netns); err != nil {
			return "", fmt.Errorf("environment %s: %w", spec.ID, err)
		}
	}
	// Rules first: the port only comes up once its policy is in force.
	if err := nft(ctx, n.envRules(e)); err != nil {
		return "", fmt.Errorf("environment %s: apply network policy: %w", spec.ID, err)
	}
	e.ruled = true
	return netns, nil
}

// Connect gives environment id, prepared by Prepare, its interface on the
// bridge in the network namespace at netns ("" for the one Prepare made).
// On error, Teardown undoes what was made.
func (n *Network) Connect(ctx context.Context, id, netns string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.state.env(id)
	if !ok || !e.ruled {
		return fmt.Errorf("environment %s: connect before its policy is in force", id)
	}
	if netns == "" {
		netns = e.Netns
	}
	if netns == "" {
		return fmt.Errorf("environment %s: no network namespace to connect", id)
	}
	if err := n.connect(e, netns); err != nil {
		return fmt.Errorf("environment %s: %w", id, err)
	}
	return nil
}

// Teardown removes id's link, rules and namespace and releases its
// address. Unknown ids are not an error.
func (n *Network) Teardown(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	nm := namesFor(id)
	if err := deleteLink(nm.veth); err != nil {
		return fmt.Errorf("environment %s: %w", id, err)
	}
	e, ok := n.state.env(id)
	if !ok {
		return nil
	}
	if err := nft(ctx, n.teardownRules(e)); err != nil {
		return fmt.Errorf("environment %s: remove network policy: %w", id, err)
	}
	if e.OwnNetns {
		if err := removeNetns(e.Netns); err != nil {
			return fmt.Errorf("environment %s: %w", id, err)
		}
	}
	n.dns.forget(e.IP)
	if err := n.state.release(id); err != nil {
		return fmt.Errorf("environment %s: %w", id, err)
	}
	return nil
}

// List returns the ids of the environments that have a network, so the
// driver's reconcile can tear down orphans.
func (n *Network) List(ctx context.Context) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state.ids(), nil
}

// Address returns id's address on the bridge, so the host can reach its
// allowed ingress ports.
func (n *Network) Address(id string) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.state.env(id)
	if !ok {
		return netip.Addr{}, paddock.Errorf(paddock.ENotFound, "environment %s has no network", id)
	}
	return e.IP, nil
}

// DeniedCounts returns, for every environment with a network, how many
// of its attempts to open a connection or resolve a name the policy
// refused: packets opening a connection (so retransmissions count again)
// plus refused DNS queries since this Network started. It reads every
// counter with one nft call, however many environments there are; an
// environment whose counter is missing (its network is being torn down)
// is left out.
func (n *Network) DeniedCounts(ctx context.Context) (map[string]int64, error) {
	pkts, err := readCounters(ctx, n.cfg.Table)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int64, len(n.state.Envs))
	for id, e := range n.state.Envs {
		if p, ok := pkts["deny_"+namesFor(id).hash]; ok {
			out[id] = p + n.dns.refused(e.IP)
		}
	}
	return out, nil
}

// Destroy removes the bridge, the tables and every namespace Paddock
// made. Only for uninstalling and tests: running environments lose their
// network.
func (n *Network) Destroy(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, id := range n.state.ids() {
		e, _ := n.state.env(id)
		deleteLink(namesFor(id).veth)
		if e.OwnNetns {
			if err := removeNetns(e.Netns); err != nil {
				errs = append(errs, err)
			}
		}
		n.state.release(id)
	}
	for _, fam := range []string{"inet", "bridge"} {
		// add-then-delete: deleting a missing table is an error.
		if err := nft(ctx, fmt.Sprintf("add table %s %s\ndelete table %s %s\n", fam, n.cfg.Table, fam, n.cfg.Table)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteLink(n.cfg.Bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
