package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// DefaultPath is the PATH of built images.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BuildOptions describes a Debian image for Build.
type BuildOptions struct {
	Packages []string // extra packages, e.g. "python3", "python3-pip"
	Suite    string   // Debian suite; "" means "bookworm"
	Mirror   string   // apt mirror URL; "" means mmdebstrap's default
	Variant  string   // mmdebstrap variant: "minbase" (default), "apt", "essential", "required", "important", "standard"

	// CustomizeHooks are shell commands run after the packages are
	// installed, with the root directory as "$1", e.g.
	// `ln -s /usr/bin/python3 "$1/usr/local/bin/python"`. They run as
	// root on the host, and packages' maintainer scripts run as root in
	// a mere chroot: hooks and Mirror must come from the operator, never
	// from API callers.
	CustomizeHooks []string
}

var (
	packageRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9\-]+)?(=[A-Za-z0-9.+~:\-]+)?$`)
	suiteRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]*$`)
	variants  = map[string]bool{"minbase": true, "apt": true, "essential": true, "required": true, "important": true, "standard": true}
)

// Build makes a single-layer Debian image with mmdebstrap (--mode=root,
// so the process must be root and mmdebstrap installed) and stores it
// under name like a pulled image. mmdebstrap's output lines are reported
// as "build" progress. A failed or cancelled build leaves nothing behind.
//
// Errors: EInvalid for a malformed name or options; EUnavailable when not
// root or mmdebstrap is missing; EInvalid when mmdebstrap fails (an
// unknown package, an unreachable mirror), with its last error line.
func (s *Store) Build(ctx context.Context, name string, opts BuildOptions, progress func(Progress)) (*paddock.Image, error) {
	r, err := parseRef(name)
	if err != nil {
		return nil, err
	}
	args, err := buildArgs(opts)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, paddock.Errorf(paddock.EUnavailable, "build %s: building images needs root", r.familiar)
	}
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EUnavailable, "build %s: mmdebstrap is not installed", r.familiar), err)
	}
	report := func(p Progress) {
		if progress != nil {
			progress(p)
		}
	}

	work := s.tempPath("build")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, fmt.Errorf("build %s: %w", r.familiar, err)
	}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			s.log.Warn("remove build directory", "path", work, "error", err)
		}
	}()
	createdBy := "mmdebstrap " + strings.Join(args, " ")
	tarPath := filepath.Join(work, "rootfs.tar")
	args = append(args, tarPath)
	if opts.Mirror != "" {
		args = append(args, opts.Mirror)
	}

	start := time.Now()
	s.log.Info("building image", "image", r.familiar, "args", strings.Join(args, " "))
	if err := s.mmdebstrap(ctx, r.familiar, bin, args, work, report); err != nil {
		return nil, err
	}
	report(Progress{Phase: "build", Message: "compressing root file system"})
	layer, err := gzipLayer(ctx, tarPath, filepath.Join(work, "layer.tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", r.familiar, err)
	}
	if err := os.Remove(tarPath); err != nil {
		return nil, fmt.Errorf("build %s: %w", r.familiar, err)
	}
	img, err := buildImage(layer, createdBy, "paddock build", v1.Config{Env: []string{DefaultPath}, Cmd: []string{"/bin/sh"}})
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", r.familiar, err)
	}
	out, err := s.add(ctx, r, "build", img, progress)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", r.familiar, err)
	}
	s.log.Info("image built", "image", r.familiar, "digest", out.Digest, "duration", time.Since(start))
	return out, nil
}

// buildArgs validates opts and turns them into mmdebstrap arguments,
// all but the target and mirror.
func buildArgs(opts BuildOptions) ([]string, error) {
	suite := opts.Suite
	if suite == "" {
		suite = "bookworm"
	}
	if !suiteRe.MatchString(suite) {
		return nil, paddock.Errorf(paddock.EInvalid, "build: invalid suite %q", suite)
	}
	variant := opts.Variant
	if variant == "" {
		variant = "minbase"
	}
	if !variants[variant] {
		return nil, paddock.Errorf(paddock.EInvalid, "build: invalid variant %q", variant)
	}
	for _, p := range opts.Packages {
		if !packageRe.MatchString(p) {
			return nil, paddock.Errorf(paddock.EInvalid, "build: invalid package name %q", p)
		}
	}
	if opts.Mirror != "" {
		u, err := url.Parse(opts.Mirror)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.ContainsAny(opts.Mirror, " \t\n") {
			return nil, paddock.Errorf(paddock.EInvalid, "build: invalid mirror URL %q", opts.Mirror)
		}
	}
	args := []string{
		"--mode=root",
		"--variant=" + variant,
		"--format=tar",
		"--aptopt=Acquire::Retries \"3\"",
		// Like the slim images of Docker Hub: no manuals or docs.
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/info/*",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
	}
	if len(opts.Packages) > 0 {
		args = append(args, "--include="+strings.Join(opts.Packages, ","))
	}
	for _, h := range opts.CustomizeHooks {
		args = append(args, "--customize-hook="+h)
	}
	return append(args, suite), nil
}

// mmdebstrap runs mmdebstrap, reporting its output lines. It runs in its
// own mount namespace, so the mounts it makes in the chroot can never
// outlive it on the host, and in its own process group, which a cancel
// asks to stop with SIGTERM.
func (s *Store) mmdebstrap(ctx context.Context, image, bin string, args []string, work string, report func(Progress)) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+work, "LC_ALL=C.UTF-8")
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:      true,
		Unshareflags: unix.CLONE_NEWNS,
		Pdeathsig:    syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EUnavailable, "build %s: cannot run mmdebstrap", image), err)
	}
	var firstErr, last string // apt's first error says what went wrong
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			last = line
			if firstErr == "" && strings.HasPrefix(line, "E: ") {
				firstErr = line
			}
			s.log.Debug("mmdebstrap", "line", line)
			report(Progress{Phase: "build", Message: line})
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	<-scanned
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		msg := firstErr
		if msg == "" {
			msg = last
		}
		return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "build %s: mmdebstrap failed: %s", image, msg), err)
	}
	return nil
}

// gzipLayer compresses the tar at src into dst, computing both digests on
// the way, and returns it as a layer.
func gzipLayer(ctx context.Context, src, dst string) (v1.Layer, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	return gzipLayerFrom(ctx, in, dst)
}

// gzipLayerFrom is gzipLayer of the tar stream in.
func gzipLayerFrom(ctx context.Context, in io.Reader, dst string) (v1.Layer, error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	diffID, digest := sha256.New(), sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(out, digest), gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.MultiWriter(zw, diffID), ctxReader{ctx: ctx, r: in}); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToLayer(&fileLayer{
		path:   dst,
		size:   fi.Size(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(digest.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffID.Sum(nil))},
	})
}

// fileLayer is a gzip-compressed layer in a file whose digests are known.
type fileLayer struct {
	path           string
	size           int64
	digest, diffID v1.Hash
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// buildImage wraps the layer in an image with the process defaults of
// config, and one history entry.
func buildImage(layer v1.Layer, createdBy, comment string, config v1.Config) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	now := v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = now
	cf.Config = config
	cf.History = []v1.History{{Created: now, CreatedBy: createdBy, Comment: comment}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	return img, nil
}
