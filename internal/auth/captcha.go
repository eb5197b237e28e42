package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/big"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/paddockhq/paddock"
)

// Captchas issues image challenges. A challenge id is self-describing and
// signed (expiry and a MAC of the answer), so any replica with the same key
// can check it; each id is accepted once per process.
type Captchas struct {
	key  []byte
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	used map[string]time.Time // id -> expiry, to refuse replays
}

// Captcha is one issued challenge.
type Captcha struct {
	ID        string
	PNG       []byte
	ExpiresAt time.Time
}

const captchaDigits = 4

// NewCaptchas returns a captcha issuer keyed by key.
func NewCaptchas(key []byte, ttl time.Duration) *Captchas {
	return &Captchas{key: key, ttl: ttl, now: time.Now, used: map[string]time.Time{}}
}

// New returns a fresh challenge: a PNG of 4 distorted digits.
func (c *Captchas) New() (*Captcha, error) {
	code := make([]byte, captchaDigits)
	for i := range code {
		n, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return nil, fmt.Errorf("captcha code: %w", err)
		}
		code[i] = '0' + byte(n.Int64())
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("captcha nonce: %w", err)
	}
	exp := c.now().Add(c.ttl)
	payload := make([]byte, 8, 8+len(nonce))
	binary.BigEndian.PutUint64(payload, uint64(exp.Unix()))
	payload = append(payload, nonce...)
	id := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(c.mac(payload, string(code)))
	img, err := renderCaptcha(string(code))
	if err != nil {
		return nil, err
	}
	return &Captcha{ID: id, PNG: img, ExpiresAt: exp}, nil
}

func (c *Captchas) mac(payload []byte, code string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("captcha\x00"))
	m.Write(payload)
	m.Write([]byte(code))
	return m.Sum(nil)[:16]
}

// Verify checks an answer. Wrong, expired, malformed and reused challenges
// are EInvalid with a message saying which.
func (c *Captchas) Verify(id, code string) error {
	if id == "" || code == "" {
		return paddock.Errorf(paddock.EInvalid, "captcha_id and captcha_code are required")
	}
	p, m, ok := strings.Cut(id, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || len(payload) < 8 {
		return paddock.Errorf(paddock.EInvalid, "unknown captcha_id")
	}
	now := c.now()
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !now.Before(exp) {
		return paddock.Errorf(paddock.EInvalid, "captcha expired: request a new one")
	}
	if subtle.ConstantTimeCompare(mac, c.mac(payload, strings.TrimSpace(code))) != 1 {
		return paddock.Errorf(paddock.EInvalid, "wrong captcha code")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.used {
		if !now.Before(e) {
			delete(c.used, k)
		}
	}
	if _, seen := c.used[id]; seen {
		return paddock.Errorf(paddock.EInvalid, "captcha already used: request a new one")
	}
	c.used[id] = exp
	return nil
}

// renderCaptcha draws code as a 160x60 PNG: digits scaled 4x from a bitmap
// font, each shifted at random, over noise and crossing lines.
func renderCaptcha(code string) ([]byte, error) {
	const w, h, scale = 160, 60, 4
	small := image.NewGray(image.Rect(0, 0, 9*len(code), 15))
	d := font.Drawer{Dst: small, Src: image.White, Face: basicfont.Face7x13, Dot: fixed.P(1, 12)}
	for _, r := range code {
		d.DrawString(string(r))
		d.Dot.X += fixed.I(2)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rnd := make([]byte, 4096)
	if _, err := rand.Read(rnd); err != nil {
		return nil, fmt.Errorf("captcha noise: %w", err)
	}
	next := 0
	rb := func() int { next = (next + 1) % len(rnd); return int(rnd[next]) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(200 + rb()%56)
			img.Set(x, y, color.RGBA{v, v, uint8(210 + rb()%46), 255})
		}
	}
	ink := color.RGBA{uint8(rb() % 90), uint8(rb() % 90), uint8(60 + rb()%100), 255}
	for i := range code {
		dx, dy := 4+i*38+rb()%6, 2+rb()%8
		for y := 0; y < 15; y++ {
			for x := 0; x < 9; x++ {
				if small.GrayAt(i*9+x, y).Y < 128 {
					continue
				}
				for sy := 0; sy < scale-1; sy++ {
					for sx := 0; sx < scale-1; sx++ {
						img.Set(dx+x*scale+sx+(y*(rb()%3-1))/8, dy+y*scale/1+sy-10+(rb()%3), ink)
					}
				}
			}
		}
	}
	for l := 0; l < 4; l++ { // crossing lines
		y0, y1 := rb()%h, rb()%h
		for x := 0; x < w; x++ {
			img.Set(x, y0+(y1-y0)*x/w, ink)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode captcha: %w", err)
	}
	return buf.Bytes(), nil
}

// Answer extracts the code of an id issued by this Captchas by trying every
// code. It exists for tests, which cannot read the image.
func (c *Captchas) Answer(id string) (string, bool) {
	p, m, _ := strings.Cut(id, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(p)
	mac, _ := base64.RawURLEncoding.DecodeString(m)
	for i := 0; i < 10000; i++ {
		code := fmt.Sprintf("%04d", i)
		if hmac.Equal(mac, c.mac(payload, code)) {
			return code, true
		}
	}
	return "", false
}
