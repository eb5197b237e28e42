package guest

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/paddockhq/paddock"
)

// maxLogBuffer bounds the log kept in the guest while the host is away;
// beyond it the oldest lines are dropped (and the drop is logged).
const maxLogBuffer = 4 << 20

// maxLogBatch bounds one log frame's payload.
const maxLogBatch = 256 << 10

// logQueue is the guest's bounded buffer of log entries not yet accepted
// by the host.
type logQueue struct {
	mu      sync.Mutex
	entries []paddock.LogEntry
	size    int
	max     int
	dropped int
	notify  chan struct{} // one pending wake-up for the shipper
	idle    *sync.Cond    // signalled when entries become empty
}

func newLogQueue(max int) *logQueue {
	q := &logQueue{max: max, notify: make(chan struct{}, 1)}
	q.idle = sync.NewCond(&q.mu)
	return q
}

func entrySize(e paddock.LogEntry) int { return len(e.Message) + 64 }

func (q *logQueue) push(e paddock.LogEntry) {
	q.mu.Lock()
	q.entries = append(q.entries, e)
	q.size += entrySize(e)
	for q.size > q.max && len(q.entries) > 1 {
		q.size -= entrySize(q.entries[0])
		q.entries = q.entries[1:]
		q.dropped++
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take removes and returns a batch of at most maxLogBatch bytes.
func (q *logQueue) take() []paddock.LogEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dropped > 0 {
		d := systemEntry(fmt.Sprintf("%d log lines dropped while Paddock was unreachable", q.dropped))
		q.entries = append([]paddock.LogEntry{d}, q.entries...)
		q.size += entrySize(d)
		q.dropped = 0
	}
	n, size := 0, 0
	for n < len(q.entries) && (n == 0 || size+entrySize(q.entries[n]) <= maxLogBatch) {
		size += entrySize(q.entries[n])
		n++
	}
	batch := make([]paddock.LogEntry, n)
	copy(batch, q.entries[:n])
	q.entries = q.entries[n:]
	q.size -= size
	return batch
}

// requeue puts back a batch the host did not get.
func (q *logQueue) requeue(batch []paddock.LogEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.entries = append(batch, q.entries...)
	for _, e := range batch {
		q.size += entrySize(e)
	}
}

// delivered marks the end of a successful send.
func (q *logQueue) delivered() {
	q.mu.Lock()
	if len(q.entries) == 0 {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
}

// flush waits up to d for the queue to drain.
func (q *logQueue) flush(d time.Duration) {
	deadline := time.AfterFunc(d, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	q.mu.Lock()
	for len(q.entries) > 0 && time.Since(start) < d {
		q.idle.Wait()
	}
	q.mu.Unlock()
}

// shipLogs sends queued entries on a log stream until the session breaks.
func (g *guest) shipLogs(sess *yamux.Session) {
	st, err := sess.OpenStream()
	if err != nil {
		return
	}
	defer st.Close()
	fw := &frameWriter{w: st}
	if err := fw.writeJSON(frameHeader, streamHeader{Kind: "log"}); err != nil {
		return
	}
	for {
		for {
			batch := g.logs.take()
			if len(batch) == 0 {
				g.logs.delivered()
				break
			}
			b, err := json.Marshal(batch)
			if err == nil {
				err = fw.write(frameLog, b)
			}
			if err != nil {
				g.logs.requeue(batch)
				return
			}
		}
		select {
		case <-g.logs.notify:
		case <-sess.CloseChan():
			return
		}
	}
}
