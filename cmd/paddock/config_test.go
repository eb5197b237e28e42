package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestModelsConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "paddock.yaml")
	os.WriteFile(file, []byte(`agents:
  models:
    - {name: anthropic/claude-sonnet-4-5, input_price: 2, cached_input_price: 0.2}
    - {name: openai/llama3.1:8b, context_window: 8192, input_price: 0.1, output_price: 0.2, cached_input_price: 0.05}
`), 0o600)
	c, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags)
	if err != nil {
		t.Fatal(err)
	}
	cat := c.catalog()
	// Fields the config leaves out keep the built-in values.
	if m, _ := cat.Lookup("anthropic", "claude-sonnet-4-5"); m.InputPrice != 2 || m.CachedInputPrice != 0.2 || m.CacheWritePrice != 3.75 || m.OutputPrice != 15 {
		t.Errorf("changed model: %+v", m)
	}
	if m, ok := cat.Lookup("openai", "llama3.1:8b"); !ok || m.ContextWindow != 8192 || m.CachedInputPrice != 0.05 || m.CacheWritePrice != 0 {
		t.Errorf("added model: %+v %v", m, ok)
	}

	for bad, want := range map[string]string{
		"{name: gpt-4o}": "must be provider/model",
		"{name: openai/gpt-4o, cached_input_price: -1}":               "must not be negative",
		"{name: anthropic/claude-haiku-4-5, cache_write_price: -0.5}": "must not be negative",
	} {
		os.WriteFile(file, []byte("agents:\n  models:\n    - "+bad+"\n"), 0o600)
		if _, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: %v, want an error mentioning %q", bad, err, want)
		}
	}
}

// TestTemplatesConfig: what can be checked of a sandbox template is checked
// when the configuration loads, not when a sandbox is first made of it.
func TestTemplatesConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "paddock.yaml")
	for tmpl, want := range map[string]string{
		"{image: busybox, timeout: 2592000}":   "",
		"{image: busybox, timeout: 2592001}":   "between 0 (the default lifetime) and 2592000 seconds",
		"{image: busybox, timeout: -1}":        "between 0",
		"{image: busybox, ports: [70000]}":     "not a TCP port",
		"{image: busybox, vscode_port: 0}":     "",
		"{image: busybox, vscode_port: 65536}": "not a TCP port",
	} {
		os.WriteFile(file, []byte("sandbox:\n  templates:\n    t: "+tmpl+"\n"), 0o600)
		_, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("template %s: %v, want an error mentioning %q", tmpl, err, want)
		}
	}
}

func TestTTSConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "paddock.yaml")
	for tts, want := range map[string]string{
		"{engine: openai}":                     "",
		"{engine: espeak, image: paddock-tts}": "",
		"{image: paddock-tts}":                 "",
		"{engine: espeak}":                     "tts.engine espeak needs tts.image",
		"{engine: polly}":                      "tts.engine must be openai or espeak",
	} {
		os.WriteFile(file, []byte("tts: "+tts+"\n"), 0o600)
		_, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("tts %s: %v, want an error mentioning %q", tts, err, want)
		}
	}
}

// TestUnknownEnv: a PADDOCK_ variable Paddock does not read is named, with
// the one meant when it is close; settings, the CLI's and other programs'
// variables are not.
func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{"PADDOCK_DATA_DIR=/srv", "PADDOCK_DATA=/srv", "PADDOCK_ADRR=:8000", "PADDOCK_URL=http://x",
		"PADDOCK_TEST_CACHE=/tmp", "PADDOCK_FROBNICATE=1", "PADDOCK_GITHUB_CLIENT_ID=Iv1.x", "HOME=/root", "PADDOCK_LOG_REQUESTS=false"})
	want := []string{
		"environment variable PADDOCK_DATA_DIR is not a Paddock setting: it is ignored (did you mean PADDOCK_DATA?)",
		"environment variable PADDOCK_ADRR is not a Paddock setting: it is ignored (did you mean PADDOCK_ADDR?)",
		"environment variable PADDOCK_FROBNICATE is not a Paddock setting: it is ignored",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestREADMEVariables: every PADDOCK_ variable the README names is one
// Paddock reads.
func TestREADMEVariables(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`PADDOCK_[A-Z0-9_]*[A-Z0-9]`).FindAllString(string(readme), -1)
	if len(names) < 20 {
		t.Fatalf("only %d variables found in the README", len(names))
	}
	for _, name := range names {
		if name == "PADDOCK_DATA_DIR" { // the README's example of a variable Paddock does not read
			continue
		}
		if w := unknownEnv([]string{name + "=x"}); len(w) > 0 && !strings.HasPrefix(name, "PADDOCK_TEST_") {
			t.Errorf("README: %s", w[0])
		}
	}
}
