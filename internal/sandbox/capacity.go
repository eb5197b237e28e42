package sandbox

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/paddockhq/paddock"
)

// RuntimeInfo reports the driver's runtime classes in the domain's terms,
// for health checks.
func (m *Manager) RuntimeInfo(ctx context.Context) paddock.RuntimeInfo {
	info := m.rt.Info(ctx)
	out := paddock.RuntimeInfo{Driver: info.Driver, DefaultClass: m.cfg.DefaultRuntimeClass}
	names := make([]string, 0, len(info.Classes))
	for name := range info.Classes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := info.Classes[name]
		out.Classes = append(out.Classes, paddock.RuntimeClassInfo{Name: name, Binary: c.Binary, Version: c.Version, Working: c.Working, Error: c.Error})
	}
	return out
}

// Capacity reports what this node can still place: its CPUs and memory
// less the limits of the environments that are not ended, and never more
// memory than the kernel says is available.
func (m *Manager) Capacity(ctx context.Context) paddock.Capacity {
	cpu := int64(runtime.NumCPU()) * 1000
	total, available := memInfo()
	mem := total
	envs, _, err := m.envs.Environments(ctx, paddock.EnvironmentFilter{Statuses: []paddock.EnvironmentStatus{
		paddock.EnvironmentPending, paddock.EnvironmentRunning, paddock.EnvironmentPaused, paddock.EnvironmentTerminating,
	}})
	if err != nil {
		m.log.Warn("capacity: list environments", "err", err)
	}
	for _, e := range envs {
		if c, err := ParseCPU(e.Resources.CPU); err == nil {
			cpu -= c
		}
		if b, err := ParseBytes(e.Resources.Memory); err == nil {
			mem -= b
		}
	}
	mem = min(mem, available)
	return paddock.Capacity{TotalNodes: 1, AvailableCPU: FormatCPU(max(cpu, 0)), AvailableMemory: FormatBytes(max(mem, 0))}
}

// memInfo returns MemTotal and MemAvailable in bytes from /proc/meminfo.
func memInfo() (total, available int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "MemTotal:":
			total = kb * 1024
		case "MemAvailable:":
			available = kb * 1024
		}
	}
	return total, available
}
