package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"time"
)

// envNet is what the network keeps per environment. It is persisted so a
// restarted Paddock can serve DNS to, count, and tear down environments it
// did not set up itself.
type envNet struct {
	ID        string     `json:"id"`
	IP        netip.Addr `json:"ip"`
	Owner     int64      `json:"owner"`
	Policy    policy     `json:"policy"`
	OwnNetns  bool       `json:"own_netns,omitempty"` // Netns is a bind mount we made
	Netns     string     `json:"netns"`
	CreatedAt time.Time  `json:"created_at"`
	// ruled says Prepare put the policy in force in this process; Connect
	// refuses to bring up a link without it.
	ruled bool
}

// ipam hands out addresses of the subnet and persists every allocation in
// one JSON file, rewritten atomically on each change. Callers serialize.
type ipam struct {
	path   string
	subnet netip.Prefix
	Envs   map[string]*envNet `json:"envs"`
	// Last is the last address handed out: allocation goes round the
	// subnet, so a released address is not reused while conntrack or a
	// peer may still remember it.
	Last netip.Addr `json:"last"`
}

func loadIPAM(path string, subnet netip.Prefix) (*ipam, error) {
	st := &ipam{path: path, subnet: subnet, Envs: map[string]*envNet{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read IPAM state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse IPAM state %s: %w", path, err)
	}
	if st.Envs == nil {
		st.Envs = map[string]*envNet{}
	}
	for id, e := range st.Envs {
		if !subnet.Contains(e.IP) {
			// The subnet was reconfigured under running environments;
			// they keep their addresses until torn down.
			return nil, fmt.Errorf("IPAM state: environment %s has %s, outside the configured subnet %s; stop it or restore the subnet", id, e.IP, subnet)
		}
	}
	return st, nil
}

func (st *ipam) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode IPAM state: %w", err)
	}
	tmp := st.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write IPAM state: %w", err)
	}
	if err := os.Rename(tmp, st.path); err != nil {
		return fmt.Errorf("write IPAM state: %w", err)
	}
	return nil
}

func (st *ipam) env(id string) (*envNet, bool) {
	e, ok := st.Envs[id]
	return e, ok
}

func (st *ipam) byIP(ip netip.Addr) (*envNet, bool) {
	for _, e := range st.Envs {
		if e.IP == ip {
			return e, true
		}
	}
	return nil, false
}

func (st *ipam) ids() []string {
	ids := make([]string, 0, len(st.Envs))
	for id := range st.Envs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// allocate records id with the next free address and saves the state.
func (st *ipam) allocate(id string, owner int64, pol policy, ownNetns bool, netns string) (*envNet, error) {
	used := make(map[netip.Addr]bool, len(st.Envs))
	for _, e := range st.Envs {
		used[e.IP] = true
	}
	first := st.subnet.Addr().Next().Next() // .0 is the network, .1 the gateway
	bcast := lastAddr(st.subnet)
	ip := st.Last
	if !st.subnet.Contains(ip) {
		ip = bcast // so the first Next wraps to first
	}
	size := 1 << (32 - st.subnet.Bits())
	for range size {
		ip = ip.Next()
		if ip == bcast || !st.subnet.Contains(ip) {
			ip = first
		}
		if !used[ip] {
			e := &envNet{ID: id, IP: ip, Owner: owner, Policy: pol, OwnNetns: ownNetns, Netns: netns, CreatedAt: time.Now().UTC()}
			st.Envs[id] = e
			prev := st.Last
			st.Last = ip
			if err := st.save(); err != nil {
				delete(st.Envs, id)
				st.Last = prev
				return nil, err
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("no free address left in %s", st.subnet)
}

func (st *ipam) release(id string) error {
	if _, ok := st.Envs[id]; !ok {
		return nil
	}
	delete(st.Envs, id)
	return st.save()
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
