package llm

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"sync"
)

// EncodeCache memoizes an adapter's wire encoding of messages. An agent's
// whole history goes out again with every model call, and an SDK's
// reflection-based encoder spends far longer on it than the rest of a step
// takes: an adapter encodes each message once and splices the cached bytes
// into the request.
//
// Entries are found by a hash of the message and confirmed by comparing
// the message itself, so a hit is always the encoding of an equal message.
// The cache keeps two generations of at most limit bytes each: when the
// current one fills up it becomes the previous one and the older entries
// are dropped, so messages in use stay while the rest age out. The zero
// value is not usable; call NewEncodeCache. It is safe for concurrent use.
type EncodeCache struct {
	seed  maphash.Seed
	limit int

	mu        sync.Mutex
	cur, prev map[uint64][]encoded
	size      int // bytes held by cur
}

type encoded struct {
	m Message
	b []byte
}

// NewEncodeCache returns a cache whose generations hold about limit bytes
// of encodings each.
func NewEncodeCache(limit int) *EncodeCache {
	return &EncodeCache{seed: maphash.MakeSeed(), limit: limit, cur: map[uint64][]encoded{}}
}

// Encode returns the cached encoding of m, or calls encode, caches its
// result and returns it. The caller must not modify the result.
func (c *EncodeCache) Encode(m Message, encode func(Message) ([]byte, error)) ([]byte, error) {
	h := c.hash(m)
	c.mu.Lock()
	b, ok := find(c.cur[h], m)
	if !ok {
		if b, ok = find(c.prev[h], m); ok {
			c.addLocked(h, m, b) // in use: keep it in the current generation
		}
	}
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := encode(m)
	if err != nil {
		return nil, err
	}
	// The cache keeps its own copy of the parts (strings are immutable,
	// image bytes are not): a caller reusing its slices must not change a
	// cached key.
	m.Parts = append([]Part(nil), m.Parts...)
	for i := range m.Parts {
		if m.Parts[i].ImageData != nil {
			m.Parts[i].ImageData = bytes.Clone(m.Parts[i].ImageData)
		}
	}
	c.mu.Lock()
	if _, ok := find(c.cur[h], m); !ok {
		c.addLocked(h, m, b)
	}
	c.mu.Unlock()
	return b, nil
}

func (c *EncodeCache) addLocked(h uint64, m Message, b []byte) {
	n := len(b) + messageSize(m)
	if n > c.limit {
		return // larger than a generation: never kept
	}
	if c.size+n > c.limit {
		c.prev, c.cur, c.size = c.cur, map[uint64][]encoded{}, 0
	}
	c.cur[h] = append(c.cur[h], encoded{m: m, b: b})
	c.size += n
}

func find(es []encoded, m Message) ([]byte, bool) {
	for _, e := range es {
		if messageEqual(e.m, m) {
			return e.b, true
		}
	}
	return nil, false
}

// hash hashes every field of m's parts.
func (c *EncodeCache) hash(m Message) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(string(m.Role))
	for _, p := range m.Parts {
		// Fields are separated, not length-prefixed: an ambiguity costs a
		// comparison in find, never a wrong answer.
		for _, s := range [...]string{p.Type, p.Text, p.ImageMIME, p.ToolCallID, p.ToolName, p.Arguments, p.Result, p.Signature} {
			h.WriteString(s)
			h.WriteByte(0)
		}
		h.Write(p.ImageData)
		if p.IsError {
			h.WriteByte(1)
		}
	}
	return h.Sum64()
}

// messageEqual reports whether a and b have the same role and parts. Like
// hash, it names every field of Part (TestEncodeCacheCoversPart checks).
func messageEqual(a, b Message) bool {
	if a.Role != b.Role || len(a.Parts) != len(b.Parts) {
		return false
	}
	for i := range a.Parts {
		p, q := &a.Parts[i], &b.Parts[i]
		if p.Type != q.Type || p.Text != q.Text || p.ImageMIME != q.ImageMIME || !bytes.Equal(p.ImageData, q.ImageData) ||
			p.ToolCallID != q.ToolCallID || p.ToolName != q.ToolName || p.Arguments != q.Arguments ||
			p.Result != q.Result || p.IsError != q.IsError || p.Signature != q.Signature {
			return false
		}
	}
	return true
}

// messageSize estimates the bytes m keeps alive.
func messageSize(m Message) int {
	n := 0
	for _, p := range m.Parts {
		n += len(p.Text) + len(p.ImageData) + len(p.Arguments) + len(p.Result) + len(p.Signature) + 64
	}
	return n
}

// JoinJSON is the JSON of vs separated by commas, without brackets: the
// encoding an adapter caches for one message, which becomes any number of
// wire messages or content blocks; empty for none.
func JoinJSON[T json.Marshaler](vs []T) ([]byte, error) {
	var b []byte
	for i, v := range vs {
		enc, err := v.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, enc...)
	}
	return b, nil
}
