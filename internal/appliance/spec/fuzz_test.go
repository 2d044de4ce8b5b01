package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the spec parser: it must return a
// spec or an error, never panic or hang.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: hello\napp:\n  go: .\n",
		"name: kv\napp:\n  go: .\n  args: [-addr, \":80\"]\nnetwork:\n  mode: user\n  forwards: [\"tcp:127.0.0.1:8081-:80\"]\ndisks:\n  - {name: data, size: 16M, mount: /data}\n",
		"name: x\napp: {binary: ../../etc/passwd}\nfiles:\n  - {from: /etc/shadow, to: /s}\nmemory: 64MB\n",
		"a: &a [*a]\n",
		"name: [\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, filepath.Join(dir, "juice.yaml"))
		if err == nil && s == nil {
			t.Fatal("no spec and no error")
		}
	})
}
