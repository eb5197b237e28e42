package oci

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// diskShape is what tells writable-layer images apart: their size and the
// owner of their root.
type diskShape struct {
	size     int64
	uid, gid int
}

// maxDiskShapes bounds how many shapes the pool keeps images of: the most
// recently asked for.
const maxDiskShapes = 4

// diskPool keeps formatted writable-layer images ready, so mkfs runs in
// the background instead of in Create. Images are files in dir named
// <size>-<uid>-<gid>-<n>.img, complete (renamed there once mkfs is done)
// and never used: a new pool on the same dir, after a restart, takes them
// over. Each image serves one environment, which removes it with its
// state.
type diskPool struct {
	dir string
	per int // images kept per shape
	log *slog.Logger

	mu     sync.Mutex
	ready  map[diskShape][]string // image paths
	recent []diskShape            // most recently asked for first
	seq    int
	kick   chan struct{} // wakes the filler
	stop   context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
}

// newDiskPool returns a pool on dir keeping per images of each of the
// last shapes asked for, and picks up the images a previous pool left.
func newDiskPool(dir string, per int, log *slog.Logger) (*diskPool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create disk pool dir: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &diskPool{dir: dir, per: per, log: log, ready: map[diskShape][]string{}, kick: make(chan struct{}, 1), ctx: ctx, stop: stop}
	entries, err := os.ReadDir(dir)
	if err != nil {
		stop()
		return nil, fmt.Errorf("read disk pool: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		shape, n, ok := parseDiskName(e.Name())
		if !ok {
			os.Remove(path) // a format cut short by a crash
			continue
		}
		p.ready[shape] = append(p.ready[shape], path)
		if !slices.Contains(p.recent, shape) {
			p.recent = append(p.recent, shape)
		}
		p.seq = max(p.seq, n)
	}
	for len(p.recent) > maxDiskShapes {
		p.forget(p.recent[len(p.recent)-1])
	}
	p.wg.Add(1)
	go p.fill()
	return p, nil
}

func diskName(s diskShape, n int) string {
	return fmt.Sprintf("%d-%d-%d-%d.img", s.size, s.uid, s.gid, n)
}

func parseDiskName(name string) (diskShape, int, bool) {
	base, ok := strings.CutSuffix(name, ".img")
	if !ok {
		return diskShape{}, 0, false
	}
	f := strings.Split(base, "-")
	if len(f) != 4 {
		return diskShape{}, 0, false
	}
	var v [4]int64
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return diskShape{}, 0, false
		}
		v[i] = n
	}
	return diskShape{size: v[0], uid: int(v[1]), gid: int(v[2])}, int(v[3]), true
}

// take moves a ready image of shape s to dst and reports whether there
// was one; either way the pool makes the next one in the background.
func (p *diskPool) take(s diskShape, dst string) bool {
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}()
	p.recent = slices.DeleteFunc(p.recent, func(x diskShape) bool { return x == s })
	p.recent = slices.Insert(p.recent, 0, s)
	for len(p.recent) > maxDiskShapes {
		p.forget(p.recent[len(p.recent)-1])
	}
	for len(p.ready[s]) > 0 {
		imgs := p.ready[s]
		path := imgs[len(imgs)-1]
		p.ready[s] = imgs[:len(imgs)-1]
		if err := os.Rename(path, dst); err != nil {
			p.log.Warn("take disk from pool", "disk", path, "err", err)
			os.Remove(path)
			continue
		}
		return true
	}
	return false
}

// forget drops shape s and removes its images. p.mu is held.
func (p *diskPool) forget(s diskShape) {
	for _, path := range p.ready[s] {
		os.Remove(path)
	}
	delete(p.ready, s)
	p.recent = slices.DeleteFunc(p.recent, func(x diskShape) bool { return x == s })
}

// next returns a shape short of images and a fresh name for one.
func (p *diskPool) next() (diskShape, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.recent {
		if len(p.ready[s]) < p.per {
			p.seq++
			return s, filepath.Join(p.dir, diskName(s, p.seq)), true
		}
	}
	return diskShape{}, "", false
}

// fill formats images until every recent shape has its share, then waits
// for a take.
func (p *diskPool) fill() {
	defer p.wg.Done()
	for {
		s, path, ok := p.next()
		if !ok {
			select {
			case <-p.kick:
				continue
			case <-p.ctx.Done():
				return
			}
		}
		tmp := path + ".tmp"
		err := formatDisk(p.ctx, tmp, s.size, s.uid, s.gid)
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			os.Remove(tmp)
			if p.ctx.Err() != nil {
				return
			}
			p.log.Warn("format a disk for the pool", "err", err)
			// Create formats its own disk meanwhile; try again at the next take.
			select {
			case <-p.kick:
			case <-p.ctx.Done():
				return
			}
			continue
		}
		p.mu.Lock()
		if slices.Contains(p.recent, s) {
			p.ready[s] = append(p.ready[s], path)
		} else {
			os.Remove(path) // forgotten while it was made
		}
		p.mu.Unlock()
	}
}

// close stops the filler; ready images stay for the next pool.
func (p *diskPool) close() {
	p.stop()
	p.wg.Wait()
}
