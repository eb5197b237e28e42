package guest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/yamux"

	"github.com/paddockhq/paddock"
)

// FileInfo converts the wire description to paddock's.
func (wi wireFileInfo) info() paddock.FileInfo {
	return paddock.FileInfo{
		Name:       wi.Name,
		Path:       wi.Path,
		Size:       wi.Size,
		Mode:       modeString(wi.Mode),
		Perm:       wi.Mode & 0o7777,
		ModTime:    modTime(wi.ModTimeNS),
		Type:       fileType(wi.Mode),
		LinkTarget: wi.LinkTarget,
	}
}

// Raw st_mode file types.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

func fileType(mode uint32) string {
	switch mode & sIFMT {
	case sIFREG:
		return paddock.FileTypeFile
	case sIFDIR:
		return paddock.FileTypeDir
	case sIFLNK:
		return paddock.FileTypeSymlink
	}
	return paddock.FileTypeOther
}

// modeString formats a raw st_mode as ls does ("drwxr-xr-t"), which is
// what people read; fs.FileMode.String's format differs.
func modeString(mode uint32) string {
	b := []byte("?rwxrwxrwx")
	switch mode & sIFMT {
	case sIFREG:
		b[0] = '-'
	case sIFDIR:
		b[0] = 'd'
	case sIFLNK:
		b[0] = 'l'
	case sIFCHR:
		b[0] = 'c'
	case sIFBLK:
		b[0] = 'b'
	case sIFIFO:
		b[0] = 'p'
	case sIFSOCK:
		b[0] = 's'
	}
	for i := range 9 {
		if mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if mode&bit == 0 {
			return
		}
		if b[pos] == '-' {
			b[pos] = unset
		} else {
			b[pos] = set
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

func (c *Client) fileRequest(ctx context.Context, req *fileRequest) (*yamux.Stream, []byte, error) {
	return c.request(ctx, streamHeader{Kind: kindFile, File: req})
}

// Stat describes path (not following a final symlink).
func (c *Client) Stat(ctx context.Context, path string) (paddock.FileInfo, error) {
	st, p, err := c.fileRequest(ctx, &fileRequest{Op: opStat, Path: path})
	if err != nil {
		return paddock.FileInfo{}, err
	}
	st.Close()
	var wi wireFileInfo
	if err := decodeJSON(p, &wi); err != nil {
		return paddock.FileInfo{}, err
	}
	return wi.info(), nil
}

// ReadFile opens a regular file for streaming. Cancelling ctx, or Close,
// ends the transfer; a failure midway (or a broken connection) is an
// error from Read, never a silent short file.
func (c *Client) ReadFile(ctx context.Context, path string) (io.ReadCloser, paddock.FileInfo, error) {
	st, p, err := c.fileRequest(ctx, &fileRequest{Op: opRead, Path: path})
	if err != nil {
		return nil, paddock.FileInfo{}, err
	}
	var wi wireFileInfo
	if err := decodeJSON(p, &wi); err != nil {
		st.Close()
		return nil, paddock.FileInfo{}, err
	}
	return c.newDataReader(ctx, st), wi.info(), nil
}

// Archive streams directory path as a tar archive; see ReadFile for how
// it ends.
func (c *Client) Archive(ctx context.Context, path string) (io.ReadCloser, error) {
	st, _, err := c.fileRequest(ctx, &fileRequest{Op: opArchive, Path: path})
	if err != nil {
		return nil, err
	}
	return c.newDataReader(ctx, st), nil
}

// dataReader reads data frames until frameDataEOF.
type dataReader struct {
	c    *Client
	st   *yamux.Stream
	stop func() bool
	ctx  context.Context

	mu   sync.Mutex // Read vs Close
	buf  []byte
	rest []byte // unread part of the current frame
	err  error  // sticky
}

func (c *Client) newDataReader(ctx context.Context, st *yamux.Stream) *dataReader {
	return &dataReader{c: c, st: st, ctx: ctx, stop: context.AfterFunc(ctx, func() { abortStream(st) })}
}

func (r *dataReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.rest) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		typ, payload, nbuf, err := readFrame(r.st, r.buf)
		r.buf = nbuf
		switch {
		case err != nil:
			r.finish(r.c.readErr(err))
		case typ == frameData:
			r.rest = payload
		case typ == frameDataEOF:
			r.finish(io.EOF)
		case typ == frameError:
			r.finish(decodeError(payload))
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// finish records how the stream ended and releases it.
func (r *dataReader) finish(err error) {
	if r.ctx.Err() != nil && err != io.EOF {
		err = r.ctx.Err()
	}
	r.err = err
	r.stop()
	r.st.Close()
}

// Close ends the transfer; the guest stops sending.
func (r *dataReader) Close() error {
	r.stop()
	// Unblock a concurrent Read, then take the lock to mark the end.
	abortStream(r.st)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rest = nil
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("read after close")
	}
	return nil
}

// WriteFile streams r into path (replaced atomically, parents created)
// with the given permission bits (0: 0644), and returns the bytes written.
// If r fails or ctx is cancelled, the guest discards what it received and
// r's error (or ctx's) is returned.
func (c *Client) WriteFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) (int64, error) {
	wr, err := c.upload(ctx, &fileRequest{Op: opWrite, Path: path, Mode: uint32(mode.Perm()) | specialBits(mode)}, r)
	return wr.Size, err
}

// Extract unpacks the tar archive r into directory dir (created if
// needed) and returns the bytes of file content written and the names of
// the entries it skipped (devices, FIFOs and other special files; the
// first 100). Entries that would land outside dir are refused with
// paddock.EInvalid; what was extracted before stays.
func (c *Client) Extract(ctx context.Context, dir string, r io.Reader) (size int64, skipped []string, err error) {
	wr, err := c.upload(ctx, &fileRequest{Op: opExtract, Path: dir}, r)
	return wr.Size, wr.Skipped, err
}

func specialBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// upload sends r as data frames after the guest accepts req, and returns
// the guest's final reply (on failure, with Size the bytes sent).
func (c *Client) upload(ctx context.Context, req *fileRequest, r io.Reader) (writeReply, error) {
	st, _, err := c.fileRequest(ctx, req)
	if err != nil {
		return writeReply{}, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { abortStream(st) })
	defer stop()

	// The guest may fail midway (disk full, a refused archive entry):
	// read its reply while sending, and stop sending when it comes.
	type result struct {
		p   []byte
		err error
	}
	replies := make(chan result, 1)
	go func() {
		p, err := c.reply(st, nil, false)
		if err != nil {
			abortStream(st) // unblock the sender
		}
		replies <- result{p, err}
	}()

	fw := &frameWriter{w: st}
	buf := make([]byte, chunkSize)
	var sent int64
	var srcErr error
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if fw.write(frameData, buf[:n]) != nil {
				break // the reply says why
			}
			sent += int64(n)
		}
		if err == io.EOF {
			fw.write(frameDataEOF, nil)
			break
		}
		if err != nil {
			srcErr = err
			abortStream(st) // the guest removes what it received
			break
		}
	}
	res := <-replies
	switch {
	case srcErr != nil:
		return writeReply{Size: sent}, srcErr
	case ctx.Err() != nil:
		return writeReply{Size: sent}, ctx.Err()
	case res.err != nil:
		return writeReply{Size: sent}, res.err
	}
	var wr writeReply
	if err := decodeJSON(res.p, &wr); err != nil {
		return writeReply{Size: sent}, err
	}
	return wr, nil
}

// List describes the entries of directory path, sorted by name.
func (c *Client) List(ctx context.Context, path string) ([]paddock.FileInfo, error) {
	st, _, err := c.fileRequest(ctx, &fileRequest{Op: opList, Path: path})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { abortStream(st) })
	defer stop()
	var out []paddock.FileInfo
	var buf []byte
	for {
		typ, p, nbuf, err := readFrame(st, buf)
		buf = nbuf
		if err != nil {
			return nil, c.ctxErr(ctx, c.readErr(err))
		}
		switch typ {
		case frameData:
			var batch []wireFileInfo
			if err := decodeJSON(p, &batch); err != nil {
				return nil, err
			}
			for _, wi := range batch {
				out = append(out, wi.info())
			}
		case frameDataEOF:
			sortInfos(out)
			return out, nil
		case frameError:
			return nil, decodeError(p)
		}
	}
}

func sortInfos(s []paddock.FileInfo) {
	slices.SortFunc(s, func(a, b paddock.FileInfo) int { return strings.Compare(a.Name, b.Name) })
}

// Mkdir creates directory path (mode 0755); with parents, missing parents
// too and an existing directory is not an error.
func (c *Client) Mkdir(ctx context.Context, path string, parents bool) error {
	st, _, err := c.fileRequest(ctx, &fileRequest{Op: opMkdir, Path: path, Parents: parents})
	if err != nil {
		return err
	}
	st.Close()
	return nil
}

// Remove removes path; a non-empty directory only when recursive.
func (c *Client) Remove(ctx context.Context, path string, recursive bool) error {
	st, _, err := c.fileRequest(ctx, &fileRequest{Op: opRemove, Path: path, Recursive: recursive})
	if err != nil {
		return err
	}
	st.Close()
	return nil
}
