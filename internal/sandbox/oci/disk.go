package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DiskFree is the space free for an unprivileged user on the filesystem
// of the state directory, where environments' disk images grow as they
// are written (sandbox.DiskFreer).
func (r *Runtime) DiskFree() (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(r.cfg.StateDir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", r.cfg.StateDir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// makeDisk creates a sparse ext4 image of size bytes at img and mounts it
// at dir through a loop device. The filesystem's root belongs to uid:gid.
func makeDisk(ctx context.Context, img, dir string, size int64, uid, gid int) error {
	if err := formatDisk(ctx, img, size, uid, gid); err != nil {
		return err
	}
	return mountDisk(img, dir)
}

// formatDisk creates a sparse ext4 image of size bytes at img, whose root
// belongs to uid:gid.
func formatDisk(ctx context.Context, img string, size int64, uid, gid int) error {
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create disk image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("size disk image: %w", err)
	}
	f.Close()
	// No journal and lazy init: the disk is scratch space that dies with
	// the environment, and mkfs stays in the tens of milliseconds. No
	// reserved blocks: the whole size is the user's.
	out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
		"-E", fmt.Sprintf("nodiscard,lazy_itable_init=1,lazy_journal_init=1,root_owner=%d:%d", uid, gid),
		img).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// mountDisk mounts the image at img on dir through a loop device attached
// with autoclear, so unmounting frees it.
func mountDisk(img, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create disk mountpoint: %w", err)
	}
	loop, err := attachLoop(img)
	if err != nil {
		return err
	}
	defer loop.Close() // with autoclear, the mount now holds the device
	// noinit_itable: no background zeroing of inode tables, whose writes
	// would cost memory and I/O for a file system that lives as long as
	// the environment.
	if err := unix.Mount(loop.Name(), dir, "ext4", unix.MS_NOSUID|unix.MS_NODEV, "noinit_itable"); err != nil {
		return fmt.Errorf("mount disk %s: %w", loop.Name(), err)
	}
	return nil
}

// attachLoop binds a free loop device to the file at path and returns the
// open device. The device detaches itself when the last user closes it.
func attachLoop(path string) (*os.File, error) {
	backing, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open disk image: %w", err)
	}
	defer backing.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open loop control: %w", err)
	}
	defer ctl.Close()
	// Another process may take the free device between GET_FREE and
	// CONFIGURE; then CONFIGURE fails with EBUSY and we try the next one.
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("get free loop device: %w", err)
		}
		dev, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open loop device: %w", err)
		}
		// Direct I/O keeps the disk's pages out of the host page cache,
		// which would otherwise hold every page twice (the loop device's
		// and the backing file's); the kernel refuses it where the backing
		// file system cannot, and then the device is buffered.
		cfg := unix.LoopConfig{Fd: uint32(backing.Fd()), Size: 512} // 512: any ext4 block size mounts
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_DIRECT_IO
		copy(cfg.Info.File_name[:], path)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EINVAL) {
			cfg = unix.LoopConfig{Fd: uint32(backing.Fd())}
			cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
			copy(cfg.Info.File_name[:], path)
			err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		}
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("configure loop device: %w", err)
		}
	}
	return nil, errors.New("configure loop device: no free device after 20 attempts")
}

// detachLoops detaches loop devices still backed by files under dir: left
// over when a crash came between attach and mount, or after a lazy unmount.
func detachLoops(dir string) error {
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var errs []error
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if !within(strings.TrimSpace(string(b)), dir) {
			continue
		}
		name := filepath.Base(filepath.Dir(filepath.Dir(m)))
		dev, err := os.OpenFile("/dev/"+name, os.O_RDWR, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", name, err))
			continue
		}
		if err := unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
			errs = append(errs, fmt.Errorf("detach %s: %w", name, err))
		}
		dev.Close()
	}
	return errors.Join(errs...)
}

// loopsUnder lists loop devices backed by files under dir.
func loopsUnder(dir string) []string {
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err == nil && within(strings.TrimSpace(string(b)), dir) {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return out
}

// mountsUnder returns the mount points at or under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if within(mp, dir) {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	// Reverse order of appearance unmounts children and over-mounts first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unmountAll unmounts everything at or under dir.
func unmountAll(dir string) error {
	for range 5 { // a mount can be stacked several times
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := unix.Unmount(mp, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				// Busy (a process still has a file open): detach lazily so
				// the directory can go; the kernel frees it when released.
				if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("unmount %s: %w", mp, err)
				}
			}
		}
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mps) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(mps, ", "))
	}
	return nil
}

func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
