package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroupV2 reports whether the host runs the unified hierarchy only. A
// hybrid host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) is
// treated as v1, which is where runc puts the limits there.
// It is checked once: a host does not switch hierarchies under a running
// Paddock, and every cgroup file's path depends on it.
var cgroupV2 = sync.OnceValue(func() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
})

// cgroupDirs lists the existing directories of cgroup path p (like
// "/paddock/env-x") across every hierarchy.
func cgroupDirs(p string) []string {
	var out []string
	if cgroupV2() {
		d := filepath.Join(cgroupRoot, p)
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
		return out
	}
	entries, _ := os.ReadDir(cgroupRoot)
	seen := map[string]bool{}
	for _, e := range entries {
		// Skip the symlinks (cpu -> cpu,cpuacct) so each hierarchy is once.
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(cgroupRoot, e.Name(), p)
		if _, err := os.Stat(d); err == nil && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// killCgroup SIGKILLs every process left in cgroup path p: the last
// resort for a container whose runtime state is gone.
func killCgroup(p string) {
	for range 10 {
		n := 0
		for _, d := range cgroupDirs(p) {
			filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
					return nil
				}
				b, _ := os.ReadFile(path)
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
						n++
					}
				}
				return nil
			})
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond) // let the kernel finish the exits
	}
}

// removeCgroup removes cgroup path p in every hierarchy, children first.
// A cgroup that still has processes cannot be removed (EBUSY).
func removeCgroup(p string) error {
	var errs []error
	for _, d := range cgroupDirs(p) {
		var dirs []string
		filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupFile returns the path of file in controller's hierarchy (v1) or
// in the unified hierarchy (v2).
func cgroupFile(p, controller, file string) string {
	if cgroupV2() {
		return filepath.Join(cgroupRoot, p, file)
	}
	return filepath.Join(cgroupRoot, controller, p, file)
}

func readInt(path string) (int64, error) {
	b, err := readSmall(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readKey reads "key value" lines (memory.stat, memory.events, cpu.stat,
// memory.oom_control) and returns key's value.
func readKey(path, key string) (int64, error) {
	b, err := readSmall(path)
	if err != nil {
		return 0, err
	}
	return parseKey(b, path, key)
}

// parseKey returns key's value in b, the "key value" lines read from path.
func parseKey(b []byte, path, key string) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// readSmall reads a cgroup file with plain system calls: os.ReadFile
// would also stat it and register it with the runtime's poller (cgroup
// files can be polled), which costs three times the read itself.
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 1024)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// cgroupStats holds raw counters of one cgroup.
type cgroupStats struct {
	cpuNanos int64 // cumulative CPU time
	memory   int64 // working set: usage minus inactive page cache
	oomKills int64
}

func readCgroupStats(p string) (cgroupStats, error) {
	var s cgroupStats
	var err error
	if cgroupV2() {
		var usec int64
		if usec, err = readKey(cgroupFile(p, "", "cpu.stat"), "usage_usec"); err != nil {
			return s, err
		}
		s.cpuNanos = usec * 1000
		if s.memory, err = readInt(cgroupFile(p, "", "memory.current")); err != nil {
			return s, err
		}
		if inactive, err := readKey(cgroupFile(p, "", "memory.stat"), "inactive_file"); err == nil && inactive < s.memory {
			s.memory -= inactive
		}
		s.oomKills, _ = readKey(cgroupFile(p, "", "memory.events"), "oom_kill")
		return s, nil
	}
	if s.cpuNanos, err = readInt(cgroupFile(p, "cpuacct", "cpuacct.usage")); err != nil {
		return s, err
	}
	if s.memory, err = readInt(cgroupFile(p, "memory", "memory.usage_in_bytes")); err != nil {
		return s, err
	}
	if inactive, err := readKey(cgroupFile(p, "memory", "memory.stat"), "total_inactive_file"); err == nil && inactive < s.memory {
		s.memory -= inactive
	}
	s.oomKills, _ = readOOMKills(p)
	return s, nil
}

func readOOMKills(p string) (int64, error) {
	return readKey(oomFile(p), "oom_kill")
}

// oomFile is the file of cgroup p that counts its OOM kills ("oom_kill").
func oomFile(p string) string {
	if cgroupV2() {
		return cgroupFile(p, "", "memory.events")
	}
	return cgroupFile(p, "memory", "memory.oom_control")
}

// oomCounter reads one cgroup's count of OOM kills through a descriptor it
// keeps open. Exec reads the count before every command: a pread is one
// system call where reading the file by its path is four and a walk of
// the cgroup tree, and on a VM a system call is dear. A cgroup file
// regenerates its content on a read at offset 0. The descriptor of a
// removed cgroup fails (ENODEV), and the counter then opens the path
// again, which finds the cgroup a restore may have made in its place.
type oomCounter struct {
	path   string
	mu     sync.Mutex
	fd     int  // -1 while not open
	closed bool // by close: no longer opened
}

func newOOMCounter(cgroup string) *oomCounter {
	return &oomCounter{path: oomFile(cgroup), fd: -1}
}

func (c *oomCounter) read() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var buf [1024]byte
	for attempt := 0; ; attempt++ {
		if c.closed {
			return 0, fmt.Errorf("%s: %w", c.path, fs.ErrClosed)
		}
		if c.fd < 0 {
			fd, err := unix.Open(c.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return 0, &fs.PathError{Op: "open", Path: c.path, Err: err}
			}
			c.fd = fd
		}
		n, err := unix.Pread(c.fd, buf[:], 0)
		for err == unix.EINTR {
			n, err = unix.Pread(c.fd, buf[:], 0)
		}
		if err == nil {
			return parseKey(buf[:n], c.path, "oom_kill")
		}
		c.closeLocked()
		if attempt == 1 {
			return 0, &fs.PathError{Op: "read", Path: c.path, Err: err}
		}
	}
}

func (c *oomCounter) close() {
	c.mu.Lock()
	c.closeLocked()
	c.closed = true
	c.mu.Unlock()
}

func (c *oomCounter) closeLocked() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// checkCgroup checks process pid is in cgroup path p, so a pid read from
// a file is known to still be the container's process: a recycled pid
// belongs to a process outside the container's cgroup.
func checkCgroup(pid int, p string) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return fmt.Errorf("the container's process %d is gone: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controllers:path
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[2] == p {
			return nil
		}
	}
	return fmt.Errorf("process %d is not in cgroup %s: not the container's", pid, p)
}
