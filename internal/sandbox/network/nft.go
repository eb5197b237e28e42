package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The rules are written in nft's own language and applied with `nft -f -`:
// each script is one kernel transaction, so an environment's policy
// appears and disappears atomically, and the scripts read like the
// `nft list table inet paddock` an operator debugs with.
//
// Layout of the inet table (names of per-environment objects end in the
// hash of the environment id, see namesFor):
//
//	input, forward, output  base chains at priority -10; only traffic
//	                        entering or leaving the bridge is judged
//	from_env                traffic routed from an environment
//	out_<h>                 the egress policy of one environment
//	in_<h>                  what the host may open to one environment
//	env_out, env_in         maps from address to out_<h> / in_<h>
//	env_ctr, deny_<h>       the counter of denied attempts, by address
//	allow_<h>, dns_<h>      allowed CIDRs; addresses of allowed domains
//	cluster_<owner>         addresses of an owner's environments that
//	                        allow cluster internal traffic
//	hard4, private4         never / only-when-listed destinations
//
// The bridge table drops every frame a port sends from an address other
// than its own (and all IPv6), through a per-port chain port_<h>.

// nft applies script as one transaction.
func nft(ctx context.Context, script string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// readCounters returns the packets of every named counter of the inet
// table, by name.
func readCounters(ctx context.Context, table string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nft", "-j", "list", "counters", "table", "inet", table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read counters of %s: %w: %s", table, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets int64  `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("parse counters of %s: %w", table, err)
	}
	pkts := make(map[string]int64, len(doc.Nftables))
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			pkts[o.Counter.Name] = o.Counter.Packets
		}
	}
	return pkts, nil
}

// Destinations no environment reaches whatever its policy: this network,
// loopback, link-local (cloud metadata lives at 169.254.169.254), "this
// network", multicast and reserved space.
var hardDeny = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// Private ranges, reachable only when allowed_egress_cidrs lists them:
// whatever else runs next to Paddock lives there. Addresses learned from
// DNS answers never open them, so a name cannot be pointed at an internal
// service (DNS rebinding).
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

func isPrivate(a netip.Addr) bool {
	for _, p := range slices.Concat(hardDeny, privateRanges) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func elements(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// baseRules (re)installs the tables' shared objects. It is idempotent and
// leaves per-environment objects alone, so running environments keep
// their policy across a restart; the base chains are flushed and refilled
// in the same transaction, so a changed configuration applies without a
// window.
func (n *Network) baseRules() string {
	var b strings.Builder
	t := "inet " + n.cfg.Table
	br, gw, subnet := quote(n.cfg.Bridge), n.gw, n.cfg.Subnet
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("add table %s", t)
	w("add map %s env_out { type ipv4_addr : verdict; }", t)
	w("add map %s env_in { type ipv4_addr : verdict; }", t)
	w("add map %s env_ctr { type ipv4_addr : counter; }", t)
	w("add set %s hard4 { type ipv4_addr; flags interval; auto-merge; }", t)
	w("flush set %s hard4", t)
	w("add element %s hard4 { %s }", t, elements(slices.Concat([]netip.Prefix{subnet}, hardDeny, n.cfg.DenyCIDRs)))
	w("add set %s private4 { type ipv4_addr; flags interval; auto-merge; }", t)
	w("flush set %s private4", t)
	w("add element %s private4 { %s }", t, elements(privateRanges))

	for _, c := range []string{"input", "forward", "output"} {
		w("add chain %s %s { type filter hook %s priority -10; policy accept; }", t, c, c)
		w("flush chain %s %s", t, c)
	}
	w("add chain %s from_env", t)
	w("flush chain %s from_env", t)
	w("add chain %s postrouting { type nat hook postrouting priority srcnat; policy accept; }", t)
	w("flush chain %s postrouting", t)

	// The host itself: only Paddock's DNS forwarder and replies.
	w("add rule %s input iifname != %s return", t, br)
	w("add rule %s input ct state established,related accept", t)
	w("add rule %s input ip daddr %s meta l4proto { udp, tcp } th dport 53 accept", t, gw)
	w("add rule %s input ct state new counter name ip saddr map @env_ctr", t)
	w("add rule %s input drop", t)

	// Routed traffic from environments goes through their egress policy;
	// nothing outside may open a connection to an environment.
	w("add rule %s forward iifname %s jump from_env", t, br)
	w("add rule %s forward oifname %s ct state established,related accept", t, br)
	w("add rule %s forward oifname %s drop", t, br)
	w("add rule %s from_env ct state established,related accept", t)
	w("add rule %s from_env ct state new ip saddr vmap @env_out", t)
	w("add rule %s from_env ct state new counter name ip saddr map @env_ctr", t)
	w("add rule %s from_env drop", t)

	// The host may open connections to allowed ingress ports only.
	w("add rule %s output oifname != %s return", t, br)
	w("add rule %s output ct state established,related accept", t)
	w("add rule %s output ip daddr vmap @env_in", t)
	w("add rule %s output drop", t)

	w("add rule %s postrouting ip saddr %s oifname != %s masquerade", t, subnet, br)

	tb := "bridge " + n.cfg.Table
	w("add table %s", tb)
	w("add map %s ports { type ifname : verdict; }", tb)
	w("add chain %s prerouting { type filter hook prerouting priority -300; policy accept; }", tb)
	w("flush chain %s prerouting", tb)
	w("add rule %s prerouting iifname vmap @ports", tb)
	return b.String()
}

// envDefs declares e's objects; add is idempotent for identical
// definitions, which both envRules and teardownRules rely on.
func (n *Network) envDefs(e *envNet) string {
	t := "inet " + n.cfg.Table
	h := namesFor(e.ID).hash
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("add counter %s deny_%s", t, h)
	w("add set %s allow_%s { type ipv4_addr; flags interval; auto-merge; }", t, h)
	w("add set %s dns_%s { type ipv4_addr; flags timeout; }", t, h)
	w("add chain %s out_%s", t, h)
	w("add chain %s in_%s", t, h)
	if e.Policy.Cluster {
		w("add set %s %s { type ipv4_addr; }", t, clusterSet(e.Owner))
	}
	w("add chain bridge %s port_%s", n.cfg.Table, h)
	return b.String()
}

// envRules installs e's policy. The order of out_<h> is the policy:
// same-owner cluster peers, then the never-list, then listed CIDRs (which
// may open private ranges), then the private ranges, then addresses from
// allowed DNS answers, then the internet. Falling off the chain returns
// to from_env, which counts and drops.
func (n *Network) envRules(e *envNet) string {
	t := "inet " + n.cfg.Table
	nm := namesFor(e.ID)
	h, ip, pol := nm.hash, e.IP, e.Policy
	var b strings.Builder
	b.WriteString(n.envDefs(e))
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("flush set %s allow_%s", t, h)
	if len(pol.CIDRs) > 0 {
		w("add element %s allow_%s { %s }", t, h, elements(pol.CIDRs))
	}
	w("flush chain %s out_%s", t, h)
	if pol.Cluster {
		cs := clusterSet(e.Owner)
		w("add element %s %s { %s }", t, cs, ip)
		w("add rule %s out_%s ip daddr @%s accept", t, h, cs)
	}
	w("add rule %s out_%s ip daddr @hard4 return", t, h)
	w("add rule %s out_%s ip daddr @allow_%s accept", t, h, h)
	w("add rule %s out_%s ip daddr @private4 return", t, h)
	w("add rule %s out_%s ip daddr @dns_%s accept", t, h, h)
	if pol.Internet {
		w("add rule %s out_%s accept", t, h)
	}
	w("flush chain %s in_%s", t, h)
	if len(pol.Ports) > 0 {
		ports := make([]string, len(pol.Ports))
		for i, p := range pol.Ports {
			ports[i] = fmt.Sprint(p)
		}
		w("add rule %s in_%s tcp dport { %s } accept", t, h, strings.Join(ports, ", "))
	}
	w("add element %s env_out { %s : jump out_%s }", t, ip, h)
	w("add element %s env_in { %s : jump in_%s }", t, ip, h)
	w("add element %s env_ctr { %s : \"deny_%s\" }", t, ip, h)

	tb := "bridge " + n.cfg.Table
	w("flush chain %s port_%s", tb, h)
	w("add rule %s port_%s ether type arp arp saddr ip %s return", tb, h, ip)
	w("add rule %s port_%s ether type ip ip saddr %s return", tb, h, ip)
	w("add rule %s port_%s drop", tb, h)
	w("add element %s ports { %s : jump port_%s }", tb, quote(nm.veth), h)
	return b.String()
}

// teardownRules removes e's objects. nft 1.0.6 has no "destroy", and
// deleting a missing object fails the whole transaction, so every object
// is first added (a no-op when it exists) and then deleted: the script
// succeeds whatever a failed Setup left behind.
func (n *Network) teardownRules(e *envNet) string {
	t := "inet " + n.cfg.Table
	nm := namesFor(e.ID)
	h, ip := nm.hash, e.IP
	var b strings.Builder
	b.WriteString(n.envDefs(e))
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("add element %s env_out { %s : jump out_%s }", t, ip, h)
	w("add element %s env_in { %s : jump in_%s }", t, ip, h)
	w("add element %s env_ctr { %s : \"deny_%s\" }", t, ip, h)
	w("delete element %s env_out { %s }", t, ip)
	w("delete element %s env_in { %s }", t, ip)
	w("delete element %s env_ctr { %s }", t, ip)
	if e.Policy.Cluster {
		cs := clusterSet(e.Owner)
		w("add element %s %s { %s }", t, cs, ip)
		w("delete element %s %s { %s }", t, cs, ip)
	}
	w("flush chain %s out_%s", t, h)
	w("flush chain %s in_%s", t, h)
	w("delete chain %s out_%s", t, h)
	w("delete chain %s in_%s", t, h)
	w("delete counter %s deny_%s", t, h)
	w("delete set %s allow_%s", t, h)
	w("delete set %s dns_%s", t, h)

	tb := "bridge " + n.cfg.Table
	w("add element %s ports { %s : jump port_%s }", tb, quote(nm.veth), h)
	w("delete element %s ports { %s }", tb, quote(nm.veth))
	w("flush chain %s port_%s", tb, h)
	w("delete chain %s port_%s", tb, h)
	return b.String()
}

// clusterSet names the set of owner's environments that allow cluster
// internal traffic. Sets of owners with no environment left stay, empty
// and unreferenced, until Destroy: they cost nothing.
func clusterSet(owner int64) string {
	if owner < 0 {
		return fmt.Sprintf("cluster_n%d", -owner)
	}
	return fmt.Sprintf("cluster_%d", owner)
}

// allowDNSAddrs opens addrs to environment id for ttl.
func (n *Network) allowDNSAddrs(ctx context.Context, id string, addrs []netip.Addr, ttl time.Duration) error {
	if len(addrs) == 0 {
		return nil
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = fmt.Sprintf("%s timeout %ds", a, int(ttl.Seconds()))
	}
	return nft(ctx, fmt.Sprintf("add element inet %s dns_%s { %s }\n", n.cfg.Table, namesFor(id).hash, strings.Join(s, ", ")))
}

func quote(s string) string { return `"` + s + `"` }
