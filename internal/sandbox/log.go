package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// MaxLogBytes is the size at which an environment's log file is rotated to
// "<path>.1" (one rotation is kept), so a chatty command costs at most twice
// this on disk.
const MaxLogBytes = 10 << 20

// AppendLog appends entries to the JSON-lines log at path, rotating it when
// it grows past MaxLogBytes. It takes an exclusive flock on the file, so
// the Manager and a driver (even in another process) may both append.
func AppendLog(path string, entries ...paddock.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("encode log entry: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return fmt.Errorf("lock log: %w", err)
		}
		// Another writer may have rotated the file between our open and our
		// lock; then f is the old file and we must reopen.
		var st1, st2 unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st1) == nil && unix.Stat(path, &st2) == nil && st1.Ino != st2.Ino && attempt < 3 {
			f.Close()
			continue
		}
		if st1.Size+int64(buf.Len()) > MaxLogBytes && st1.Size > 0 {
			if err := os.Rename(path, path+".1"); err != nil {
				f.Close()
				return fmt.Errorf("rotate log: %w", err)
			}
			f.Close()
			continue
		}
		_, err = f.Write(buf.Bytes())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("append log: %w", err)
		}
		return nil
	}
}

// ReadLog returns the last tail entries of the log at path (all of them
// when tail <= 0), including the rotated file. A missing log is empty.
// Lines that do not parse are skipped: a crash may leave a torn last line.
func ReadLog(path string, tail int) ([]paddock.LogEntry, error) {
	var out []paddock.LogEntry
	for _, p := range []string{path + ".1", path} {
		entries, _, err := readLogFrom(p, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	if tail > 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	return out, nil
}

// readLogFrom reads complete lines from offset and returns the entries and
// the offset just past the last complete line.
func readLogFrom(path string, offset int64) ([]paddock.LogEntry, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, offset, nil
	}
	if err != nil {
		return nil, offset, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, offset, fmt.Errorf("seek log: %w", err)
	}
	var out []paddock.LogEntry
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// A partial last line is left for the next read.
			return out, offset, nil
		}
		offset += int64(len(line))
		var e paddock.LogEntry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
}
