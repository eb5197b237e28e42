package oci

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// Paths inside the environment.
const (
	guestPath   = "/.paddock/guest"          // the guest binary, read-only
	controlDir  = "/.paddock/run"            // the control directory
	guestConfig = controlDir + "/guest.json" // the guest's Config
	guestSocket = controlDir + "/ctl.sock"   // the host's listener
	guestLane   = controlDir + "/lane.sock"  // the host's lane listener (guest.Config.Lane)
)

// defaultCaps is Docker's default capability set without NET_RAW, which
// only serves raw-socket tricks (ARP/ICMP spoofing) an agent does not need.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Docker's default masked and read-only paths.
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

var hostnameRE = regexp.MustCompile(`[^a-z0-9-]+`)

// hostname turns an environment name into a valid hostname, falling back
// to the id.
func hostname(name, id string) string {
	h := strings.Trim(hostnameRE.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(h) > 63 {
		h = strings.Trim(h[:63], "-")
	}
	if h == "" {
		return id
	}
	return h
}

// buildSpec returns the OCI runtime spec for one environment. rootfs is
// the mounted overlay, runDir the host side of the control directory.
func (r *Runtime) buildSpec(spec *sandbox.Spec, rootfs, runDir string, uid, gid int64) (*specs.Spec, error) {
	env := spec.Env
	var sc paddock.SecurityContext
	if env.Isolation.SecurityContext != nil {
		sc = *env.Isolation.SecurityContext
	}
	gvisor := spec.RuntimeClass == sandbox.ClassGVisor

	caps := &specs.LinuxCapabilities{Bounding: defaultCaps}
	if uid == 0 {
		// Like Docker: non-root users get the bounding set only, so they
		// hold no capability unless a setuid binary grants one.
		caps.Effective = defaultCaps
		caps.Permitted = defaultCaps
	}
	args := append([]string{guestPath}, r.cfg.GuestArgs...)
	args = append(args, "-config", guestConfig)

	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			User:            specs.User{UID: uint32(uid), GID: uint32(gid)},
			Args:            args,
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:             "/",
			Capabilities:    caps,
			NoNewPrivileges: sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation,
		},
		Root:     &specs.Root{Path: rootfs, Readonly: sc.ReadOnlyRootFilesystem},
		Hostname: hostname(env.Name, spec.ID),
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: guestPath, Type: "bind", Source: r.cfg.GuestBinary, Options: []string{"rbind", "ro", "nosuid", "nodev"}},
			{Destination: controlDir, Type: "bind", Source: runDir, Options: []string{"rbind", "rw", "nosuid", "nodev", "noexec"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				// A new network namespace holds only loopback: no network
				// until a network driver wires one in (see Config.Network).
				{Type: specs.NetworkNamespace},
			},
			CgroupsPath: r.cgroupPath(spec.ID),
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	if sc.ReadOnlyRootFilesystem {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
	}
	if !gvisor {
		// gVisor is itself the boundary and ignores user namespace
		// mappings; under runc, root inside is UIDShift outside.
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace},
			specs.LinuxNamespace{Type: specs.CgroupNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(r.cfg.UIDShift), Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(r.cfg.UIDShift), Size: 65536}}
		// devpts wants a gid that exists in the user namespace.
		s.Mounts[2].Options = append(s.Mounts[2].Options, "gid=5")
	}

	res := s.Linux.Resources
	if spec.CPUMillis > 0 {
		period := uint64(100000)
		quota := spec.CPUMillis * int64(period) / 1000
		if quota < 1000 {
			quota = 1000 // the kernel's minimum quota is 1 ms
		}
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if spec.MemoryBytes > 0 {
		limit := spec.MemoryBytes
		swap := limit // memory+swap equal to memory: no swap
		res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}
	if spec.PidsLimit > 0 {
		pids := spec.PidsLimit
		if gvisor {
			// Under gVisor the host cgroup holds the sentry's threads and,
			// on the ptrace platform, stub processes and threads for every
			// guest address space: the sandbox's own count is several
			// times its guest processes, and hitting the host limit
			// crashes the sentry. The host limit is a backstop for the
			// host only.
			pids = max(pids*16, 8192)
		}
		res.Pids = &specs.LinuxPids{Limit: &pids}
	}

	prof, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	s.Linux.Seccomp = prof
	return s, nil
}
