// Package image is Paddock's local, content-addressed OCI image store.
//
// Images enter the store by Pull (from a registry or its mirror), Import (a
// `docker save` or OCI image-layout tarball) or Build (a Debian root file
// system made by mmdebstrap). Whatever the source, an image is kept the
// same way under Options.Dir:
//
//	blobs/sha256/<hex>     manifest, config and compressed layers, by digest
//	rootfs/<hex>/          the layers applied in order, once per manifest digest
//	images.json            normalised name -> digest, source, time, size, config
//	tmp/                   work in progress, renamed into place when complete
//	.lock                  flock(2) serialising writers across processes
//
// An unpacked tree is owned by ids shifted by Options.UIDShift so that the
// user namespace of an environment maps its root to an unprivileged host
// user. Unpacking (with a UIDShift) and Build need root.
//
// The CLI and a running server may share one store: every change to
// images.json happens under a process lock and the file lock, and every
// tree and blob is written under tmp/ and renamed into place, so a crash
// never leaves a half-written tree that looks complete.
package image

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// Progress reports how far a Pull, Import or Build has got. Phase is one of
// "resolve", "download", "unpack", "build" or "done"; Current and Total
// count bytes in "download" and "unpack" (Total is 0 when unknown).
type Progress = paddock.ImageProgress

// Options configures a Store.
type Options struct {
	Dir      string            // store root, e.g. <data>/images
	UIDShift uint32            // added to every file's uid and gid when unpacking; 0 keeps them
	Mirrors  map[string]string // registry host -> mirror base URL, e.g. "docker.io" -> "http://127.0.0.1:5000"
	Auth     authn.Keychain    // nil means authn.DefaultKeychain (~/.docker/config.json)
	Logger   *slog.Logger      // nil discards
	// InUse returns the images in use, as their users name them, with
	// their users: image reference -> ids of the environments, not ended,
	// that run on it. An environment runs on the tree its image's name
	// had when it started, so while anyone uses a name, the store refuses
	// (EConflict) to remove it or to move it to other content: the tree
	// under them stays, and the name still says which it is. nil means
	// nobody ever does.
	InUse func(ctx context.Context) (map[string][]string, error)
}

// Store is a local image store. Its methods are safe for concurrent use,
// also by several processes sharing Dir.
type Store struct {
	dir      string
	shift    uint32
	mirrors  map[string]string // canonical registry -> mirror URL
	keychain authn.Keychain
	log      *slog.Logger
	inUse    func(ctx context.Context) (map[string][]string, error)

	mu sync.Mutex // with the flock on .lock, serialises changes to the store

	flightMu sync.Mutex
	flights  map[string]*flight // Ensure calls in progress, by normalised name
}

// Open opens the store at opts.Dir, creating it if needed, and removes
// what crashed writers left behind.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "image store directory is not set")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	s := &Store{
		dir:      dir,
		shift:    opts.UIDShift,
		mirrors:  make(map[string]string),
		keychain: opts.Auth,
		log:      opts.Logger,
		inUse:    opts.InUse,
		flights:  make(map[string]*flight),
	}
	if s.keychain == nil {
		s.keychain = authn.DefaultKeychain
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for host, u := range opts.Mirrors {
		// Validate now rather than on the first pull.
		if _, err := parseMirror(u); err != nil {
			return nil, err
		}
		s.mirrors[canonicalRegistry(host)] = u
	}
	// The rootfs tree must be traversable by the shifted ids, not listable.
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, 0o711},
		{filepath.Join(dir, "blobs", "sha256"), 0o700},
		{filepath.Join(dir, "rootfs"), 0o711},
		{filepath.Join(dir, "tmp"), 0o700},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return s, nil
}

// recover removes temporary files of processes that are gone and trees no
// index entry refers to (a crash between rename and index write).
func (s *Store) recover() error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	var trash []string
	defer func() {
		unlock()
		for _, p := range trash {
			if err := os.RemoveAll(p); err != nil {
				s.log.Warn("remove stale image data", "path", p, "error", err)
			}
		}
	}()
	tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return err
	}
	for _, e := range tmps {
		pid, _, _ := strings.Cut(e.Name(), ".")
		if n, err := strconv.Atoi(pid); err == nil && (n == os.Getpid() || processAlive(n)) {
			continue
		}
		trash = append(trash, filepath.Join(s.dir, "tmp", e.Name()))
	}
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	used := make(map[string]bool)
	for _, e := range idx.Images {
		used[hexOf(e.Digest)] = true
	}
	trees, err := os.ReadDir(filepath.Join(s.dir, "rootfs"))
	if err != nil {
		return err
	}
	for _, e := range trees {
		if used[e.Name()] {
			continue
		}
		dst := s.tempPath("orphan")
		if err := os.Rename(filepath.Join(s.dir, "rootfs", e.Name()), dst); err != nil {
			return err
		}
		s.log.Info("removing unreferenced image tree", "digest", "sha256:"+e.Name())
		trash = append(trash, dst)
	}
	return nil
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Image returns the stored image known as ref (short or normalised). It
// fails with EInvalid for a malformed ref and ENotFound if absent.
func (s *Store) Image(ctx context.Context, ref string) (*paddock.Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	e, ok := idx.Images[r.full]
	if !ok {
		return nil, paddock.Errorf(paddock.ENotFound, "image %q not found", ref)
	}
	return s.toImage(r.full, e), nil
}

// Images returns every stored image, sorted by name.
func (s *Store) Images(ctx context.Context) ([]*paddock.Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	imgs := make([]*paddock.Image, 0, len(idx.Images))
	for full, e := range idx.Images {
		imgs = append(imgs, s.toImage(full, e))
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, nil
}

// Remove forgets ref. Its tree and blobs are deleted unless another name
// refers to the same content. It fails with ENotFound if ref is absent,
// and with EConflict, changing nothing, while Options.InUse says
// environments use ref.
func (s *Store) Remove(ctx context.Context, ref string) error {
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	var trash string
	err = func() error {
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		e, ok := idx.Images[r.full]
		if !ok {
			return paddock.Errorf(paddock.ENotFound, "image %q not found", ref)
		}
		if err := s.checkUnused(ctx, r, "removed"); err != nil {
			return err
		}
		delete(idx.Images, r.full)
		if err := s.writeIndex(idx); err != nil {
			return err
		}
		for _, other := range idx.Images {
			if other.Digest == e.Digest {
				return nil
			}
		}
		tree := s.rootfsPath(e.Digest)
		if _, err := os.Lstat(tree); err == nil {
			trash = s.tempPath("remove")
			if err := os.Rename(tree, trash); err != nil {
				return fmt.Errorf("remove image %s: %w", ref, err)
			}
		}
		return s.collectBlobs(idx, blobsOf(s, e.Digest))
	}()
	unlock()
	if trash != "" {
		// Outside the lock: a large tree takes a while to delete.
		if rerr := os.RemoveAll(trash); rerr != nil {
			s.log.Warn("remove image tree", "path", trash, "error", rerr)
		}
	}
	if err == nil {
		s.log.Info("image removed", "image", r.familiar)
	}
	return err
}

// checkUnused fails with EConflict, naming the environments, while
// environments use r (Options.InUse, by any spelling of its name): its
// content is their root file system. what says what was asked: "removed",
// "replaced". Callers hold the lock.
func (s *Store) checkUnused(ctx context.Context, r reference, what string) error {
	if s.inUse == nil {
		return nil
	}
	inUse, err := s.inUse(ctx)
	if err != nil {
		return fmt.Errorf("check who uses image %s: %w", r.familiar, err)
	}
	var users []string
	for ref, ids := range inUse {
		if u, err := parseRef(ref); err == nil && u.full == r.full {
			users = append(users, ids...)
		}
	}
	sort.Strings(users)
	n := len(users)
	if n == 0 {
		return nil
	}
	if n > 5 {
		users = append(users[:5:5], fmt.Sprintf("and %d more", n-5))
	}
	envs := "environments use"
	if n == 1 {
		envs = "environment uses"
	}
	return paddock.Errorf(paddock.EConflict, "image %s cannot be %s while %d %s it (%s); delete them first, or use another name",
		r.familiar, what, n, envs, strings.Join(users, ", "))
}

// toImage turns an index entry into the domain type.
func (s *Store) toImage(full string, e *entry) *paddock.Image {
	return &paddock.Image{
		Name:      familiarName(full),
		Digest:    e.Digest,
		Size:      e.Size,
		Source:    e.Source,
		CreatedAt: e.CreatedAt,
		RootFS:    s.rootfsPath(e.Digest),
		Config:    e.Config,
	}
}

func (s *Store) rootfsPath(digest string) string {
	return filepath.Join(s.dir, "rootfs", hexOf(digest))
}

func (s *Store) blobPath(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

// tempPath returns a fresh path under tmp/ named after this process, so
// that Open can tell abandoned work from work in progress.
func (s *Store) tempPath(kind string) string {
	var b [8]byte
	rand.Read(b[:])
	return filepath.Join(s.dir, "tmp", fmt.Sprintf("%d.%s.%x", os.Getpid(), kind, b))
}

func hexOf(digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	return hex
}

// index is images.json.
type index struct {
	Images map[string]*entry `json:"images"` // by normalised name
}

type entry struct {
	Digest    string              `json:"digest"`
	Source    string              `json:"source"`
	CreatedAt time.Time           `json:"created_at"`
	Size      int64               `json:"size"`
	Config    paddock.ImageConfig `json:"config"`
}

// readIndex reads images.json. Writers replace it by rename, so readers
// need no lock.
func (s *Store) readIndex() (*index, error) {
	idx := &index{Images: make(map[string]*entry)}
	b, err := os.ReadFile(filepath.Join(s.dir, "images.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if idx.Images == nil {
		idx.Images = make(map[string]*entry)
	}
	return idx, nil
}

// writeIndex replaces images.json atomically. Callers hold the lock.
func (s *Store) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.dir, "images.json"), s.tempPath("index"), b); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to tmp, a path on the file system of path,
// and renames it to path.
func writeFileAtomic(path, tmp string, data []byte) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lock takes the process lock and then the file lock shared with other
// processes using the store. The returned func releases both.
func (s *Store) lock() (func(), error) {
	s.mu.Lock()
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		s.mu.Unlock()
	}, nil
}

// syncFS flushes the file system holding path.
func syncFS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
