package network

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
)

func TestParsePolicy(t *testing.T) {
	no := false
	tests := []struct {
		name   string
		in     *paddock.NetworkPolicy
		deny   bool
		want   policy
		errSub string
	}{
		{name: "nil is the default", in: nil, want: policy{Internet: true}},
		{name: "configured default", in: &paddock.NetworkPolicy{}, deny: true, want: policy{}},
		{name: "explicit beats default", in: &paddock.NetworkPolicy{AllowInternet: &no}, want: policy{}},
		{
			name: "everything",
			in: &paddock.NetworkPolicy{
				AllowInternet:        &no,
				AllowedEgressCIDRs:   []string{"198.18.0.1/30", "192.0.2.7"},
				AllowedIngressPorts:  []int{8080, 8080, 22},
				AllowClusterInternal: true,
				AllowedDomains:       []string{"API.Example.com.", "*.pypi.org"},
			},
			want: policy{
				CIDRs:   []netip.Prefix{netip.MustParsePrefix("198.18.0.0/30"), netip.MustParsePrefix("192.0.2.7/32")},
				Ports:   []int{8080, 22},
				Cluster: true,
				Domains: []string{"api.example.com", "*.pypi.org"},
			},
		},
		{name: "bad cidr", in: &paddock.NetworkPolicy{AllowedEgressCIDRs: []string{"10.0.0.0/33"}}, errSub: "allowed_egress_cidrs"},
		{name: "ipv6 cidr", in: &paddock.NetworkPolicy{AllowedEgressCIDRs: []string{"2001:db8::/32"}}, errSub: "only IPv4"},
		{name: "bad port", in: &paddock.NetworkPolicy{AllowedIngressPorts: []int{0}}, errSub: "allowed_ingress_ports"},
		{name: "bad domain", in: &paddock.NetworkPolicy{AllowedDomains: []string{"exa mple.com"}}, errSub: "allowed_domains"},
		{name: "inner wildcard", in: &paddock.NetworkPolicy{AllowedDomains: []string{"a.*.com"}}, errSub: "allowed_domains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePolicy(tt.in, tt.deny)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) || paddock.ErrorCode(err) != paddock.EInvalid {
					t.Fatalf("got %v, want an invalid error about %s", err, tt.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchDomain(t *testing.T) {
	patterns := []string{"example.com", "*.pypi.org"}
	for name, want := range map[string]bool{
		"example.com":            true,
		"www.example.com":        false,
		"pypi.org":               false,
		"files.pypi.org":         true,
		"a.b.pypi.org":           true,
		"evilpypi.org":           false,
		"pypi.org.evil.com":      false,
		"example.com.evil.local": false,
	} {
		if got := matchDomain(patterns, name); got != want {
			t.Errorf("matchDomain(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIPAM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	subnet := netip.MustParsePrefix("10.1.2.0/29") // .2 to .6 usable
	st, err := loadIPAM(path, subnet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		e, err := st.allocate(id, 1, policy{}, false, "")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.IP.String())
	}
	if diff := cmp.Diff([]string{"10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"}, got); diff != "" {
		t.Fatalf("addresses (-want +got):\n%s", diff)
	}
	if _, err := st.allocate("f", 1, policy{}, false, ""); err == nil {
		t.Fatal("allocated past the end of the subnet")
	}
	if err := st.release("b"); err != nil {
		t.Fatal(err)
	}
	// The state survives a restart, and allocation wraps to the freed
	// address.
	st2, err := loadIPAM(path, subnet)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "c", "d", "e"}, st2.ids()); diff != "" {
		t.Fatalf("ids after reload (-want +got):\n%s", diff)
	}
	e, err := st2.allocate("f", 2, policy{}, false, "")
	if err != nil || e.IP.String() != "10.1.2.3" {
		t.Fatalf("allocate after release: %v, %v", e, err)
	}
	if _, err := loadIPAM(path, netip.MustParsePrefix("10.9.0.0/16")); err == nil {
		t.Fatal("loaded allocations outside a changed subnet")
	}
}

// TestRulesParse checks the generated scripts with nft's dry run.
func TestRulesParse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nft --check needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	n := &Network{cfg: Config{Bridge: "pdkc0", Table: "paddock_check", Subnet: DefaultSubnet}, gw: DefaultSubnet.Addr().Next()}
	e := &envNet{ID: "env-1", IP: netip.MustParseAddr("10.209.0.2"), Owner: 7, Policy: policy{
		Internet: true, Cluster: true, Ports: []int{80, 443},
		CIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
	}}
	script := n.baseRules() + n.envRules(e) + n.teardownRules(e)
	cmd := exec.Command("nft", "--check", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft --check: %v: %s\n%s", err, out, script)
	}
}
