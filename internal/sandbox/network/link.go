package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// aliasPrefix marks our veths (in their alias, which holds the full
// environment id the hashed name cannot), per bridge so two Networks on
// one host never touch each other's links.
func (n *Network) aliasPrefix() string { return "paddock/" + n.cfg.Bridge + "/" }

// setupBridge creates the bridge if needed and gives it the gateway
// address.
func (n *Network) setupBridge() error {
	link, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("look up bridge %s: %w", n.cfg.Bridge, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.cfg.Bridge}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", n.cfg.Bridge, err)
		}
		if link, err = netlink.LinkByName(n.cfg.Bridge); err != nil {
			return fmt.Errorf("look up bridge %s: %w", n.cfg.Bridge, err)
		}
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("%s exists and is a %s, not a bridge", n.cfg.Bridge, link.Type())
	}
	// IPv6 is not routed for environments; without an address the host
	// offers them nothing on the bridge either.
	if err := sysctl("net/ipv6/conf/"+n.cfg.Bridge+"/disable_ipv6", "1"); err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(n.gw, n.cfg.Subnet.Bits()))}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", n.cfg.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", n.cfg.Bridge, err)
	}
	// Ports are isolated, so environments cannot talk to each other at
	// layer 2 and every packet between them is routed through the policy.
	// Proxy ARP for the bridge's own ports (pvlan) makes the host answer
	// their ARP for each other; no redirects, or the host would tell them
	// to talk directly.
	for k, v := range map[string]string{
		"net/ipv4/conf/" + n.cfg.Bridge + "/proxy_arp":       "1",
		"net/ipv4/conf/" + n.cfg.Bridge + "/proxy_arp_pvlan": "1",
		"net/ipv4/conf/" + n.cfg.Bridge + "/send_redirects":  "0",
		// A proxied ARP request waits a random 0-0.8 s by default; a
		// first connection between two environments needs one each
		// way, which is up to 1.6 s before the SYN-ACK.
		"net/ipv4/neigh/" + n.cfg.Bridge + "/proxy_delay": "0",
		// Routing is what NAT needs; it is a host-wide switch, but the
		// forward chain drops everything to and from the bridge that the
		// policy does not allow.
		"net/ipv4/ip_forward": "1",
	} {
		if err := sysctl(k, v); err != nil {
			return err
		}
	}
	return nil
}

// connect creates e's veth pair, with eth0 in the namespace at netns, and
// configures both ends.
func (n *Network) connect(e *envNet, netnsPath string) error {
	nm := namesFor(e.ID)
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("look up bridge: %w", err)
	}
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", netnsPath, err)
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: nm.veth, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if br.Attrs().MTU == 0 || br.Attrs().MTU > 1500 {
		veth.MTU = 1500
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", nm.veth, err)
	}
	host, err := netlink.LinkByName(nm.veth)
	if err != nil {
		return fmt.Errorf("look up veth %s: %w", nm.veth, err)
	}
	if err := netlink.LinkSetAlias(host, n.aliasPrefix()+e.ID); err != nil {
		return fmt.Errorf("name veth %s: %w", nm.veth, err)
	}
	if err := netlink.LinkSetIsolated(host, true); err != nil {
		return fmt.Errorf("isolate veth %s: %w", nm.veth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring up veth %s: %w", nm.veth, err)
	}

	// Inside: eth0 with the environment's address, the default route via
	// the bridge and loopback up. The handle works on the namespace
	// without moving any thread into it.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", netnsPath, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("look up eth0: %w", err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(e.IP, n.cfg.Subnet.Bits()))}); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.gw.AsSlice()}); err != nil {
		return fmt.Errorf("add default route: %w", err)
	}
	return nil
}

// deleteLink deletes an interface; deleting one end of a veth pair
// deletes both. A missing link is not an error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// sweepLinks deletes our veths whose environment is not in the state: a
// crash between creating the link and recording it cannot happen (the
// state is written first), but a state file restored from a backup can
// leave some.
func (n *Network) sweepLinks() {
	links, err := netlink.LinkList()
	if err != nil {
		n.log.Warn("list links", "err", err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range links {
		id, ok := strings.CutPrefix(l.Attrs().Alias, n.aliasPrefix())
		if !ok {
			continue
		}
		if _, known := n.state.env(id); known {
			continue
		}
		n.log.Info("removing orphaned environment link", "env_id", id, "link", l.Attrs().Name)
		if err := netlink.LinkDel(l); err != nil {
			n.log.Warn("remove orphaned environment link", "env_id", id, "err", err)
		}
	}
}

// createNetns creates a network namespace and pins it at path with a bind
// mount, so it outlives every process in it until removeNetns.
func createNetns(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread's namespace changes for good: it stays locked, so the
		// Go runtime ends the thread with the goroutine instead of reusing
		// it for other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin network namespace: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetns unpins a namespace made by createNetns; it goes away with
// its last process. A missing path is not an error.
func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

func sysctl(key, value string) error {
	if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
