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

// renderCaptcha draws code as a 200x70 PNG: each digit of a bitmap font
// scaled 4x with its own random offset and shear, over speckled noise, with
// two crossing lines.
func renderCaptcha(code string) ([]byte, error) {
	const w, h, scale = 200, 70, 4
	rnd := make([]byte, 8192)
	if _, err := rand.Read(rnd); err != nil {
		return nil, fmt.Errorf("captcha noise: %w", err)
	}
	next := 0
	rb := func() int { next = (next + 1) % len(rnd); return int(rnd[next]) }

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(215 + rb()%40)
			img.Set(x, y, color.RGBA{v, v, uint8(225 + rb()%30), 255})
		}
	}
	ink := color.RGBA{uint8(rb() % 70), uint8(rb() % 70), uint8(70 + rb()%90), 255}
	face := basicfont.Face7x13
	for i, r := range code {
		glyph := image.NewAlpha(image.Rect(0, 0, 7, 13))
		d := font.Drawer{Dst: glyph, Src: image.Opaque, Face: face, Dot: fixed.P(0, 11)}
		d.DrawString(string(r))
		ox := 14 + i*46 + rb()%10
		oy := 4 + rb()%12
		shear := float64(rb()%61-30) / 100 // -0.30 .. 0.30
		for gy := 0; gy < 13*scale; gy++ {
			for gx := 0; gx < 7*scale; gx++ {
				if glyph.AlphaAt(gx/scale, gy/scale).A < 128 {
					continue
				}
				x := ox + gx + int(shear*float64(gy-13*scale/2))
				img.Set(x, oy+gy, ink)
			}
		}
	}
	for l := 0; l < 2; l++ {
		y0, y1 := 10+rb()%(h-20), 10+rb()%(h-20)
		for x := 0; x < w; x++ {
			y := y0 + (y1-y0)*x/w
			img.Set(x, y, ink)
			img.Set(x, y+1, ink)
		}
	}
	for n := 0; n < 300; n++ { // speckles in the ink colour
		img.Set(rb()*w/256, rb()*h/256, ink)
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
