package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tree makes a folder with a spec's inputs and returns it.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"hello", "static/css", "seed"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"hello/main.go":       "package main\nfunc main() {}\n",
		"prog":                "\x7fELF",
		"extra.config":        "CONFIG_FOO=y\n",
		"Image":               "image",
		"static/index.html":   "<p>hi</p>\n",
		"static/css/site.css": "p{}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// parse parses text as DIR/spec.yaml.
func parse(t *testing.T, dir, text string) (*Spec, error) {
	t.Helper()
	return Parse([]byte(text), filepath.Join(dir, "spec.yaml"))
}

func TestParseFull(t *testing.T) {
	dir := tree(t)
	s, err := parse(t, dir, `
name: hello
kernel:
  config: [extra.config]
app:
  go: ./hello
  args: [a, b, 3]
  env: {GREETING: hi, N: 3}
  workdir: /srv
  user: 1000:1001
files:
  - {from: ./static, to: /srv/static}
network:
  forwards: ["tcp:127.0.0.1:8080-:80"]
disks:
  - {name: data, size: 64M, mount: /data, from: ./seed}
cpus: 2
memory: 1G
on_exit: restart
`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir != dir || s.Resolve("./hello") != filepath.Join(dir, "hello") || s.Resolve("/abs") != "/abs" {
		t.Errorf("paths: dir %s, resolve %s", s.Dir, s.Resolve("./hello"))
	}
	if s.App.UID != 1000 || s.App.GID != 1001 {
		t.Errorf("uid:gid = %d:%d", s.App.UID, s.App.GID)
	}
	if !reflect.DeepEqual(s.App.Args, []string{"a", "b", "3"}) || s.App.Env["N"] != "3" {
		t.Errorf("args %q env %q", s.App.Args, s.App.Env)
	}
	if s.Network.Mode != NetworkUser || s.MemoryBytes != 1<<30 || s.CPUs != 2 || s.OnExit != OnExitRestart {
		t.Errorf("network %v memory %d cpus %d on_exit %s", s.Network, s.MemoryBytes, s.CPUs, s.OnExit)
	}
	if s.Disks[0].SizeBytes != 64<<20 {
		t.Errorf("disk size %d", s.Disks[0].SizeBytes)
	}
	if got := s.Line("files[0].to"); got != 12 {
		t.Errorf("line of files[0].to = %d, want 12", got)
	}
	// The JSON form (the manifest's "spec") keeps the paths as written.
	j, _ := json.Marshal(s)
	if !strings.Contains(string(j), `"go":"./hello"`) || strings.Contains(string(j), dir) {
		t.Errorf("json: %s", j)
	}
}

func TestDefaults(t *testing.T) {
	dir := tree(t)
	s, err := parse(t, dir, "name: hello\napp: {binary: prog}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"hello","kernel":{},"app":{"binary":"prog","args":[],"env":{},"workdir":"/","user":"root"},` +
		`"files":[],"network":{"mode":"none","forwards":[]},"disks":[],"cpus":1,"memory":"256M","on_exit":"poweroff"}`
	if j, _ := json.Marshal(s); string(j) != want {
		t.Errorf("defaults:\n got %s\nwant %s", j, want)
	}
	if s.MemoryBytes != 256<<20 || !s.IsJeOS() {
		t.Errorf("memory %d jeos %v", s.MemoryBytes, s.IsJeOS())
	}
	s, err = parse(t, dir, "name: hello\napp: {binary: prog}\nnetwork: {}\n")
	if err != nil || s.Network.Mode != NetworkUser {
		t.Errorf("network: {} → %v, %v", s, err)
	}
}

func TestErrors(t *testing.T) {
	dir := tree(t)
	const head = "name: hello\napp:\n  go: ./hello\n"
	cases := []struct {
		name, text, want string
	}{
		{"typo key", head + "  agrs: [a]\n", "spec.yaml:4: app.agrs: unknown key (did you mean args? app takes args, binary, env, go, user, workdir)"},
		{"typo top key", head + "memroy: 1G\n", "spec.yaml:4: memroy: unknown key (did you mean memory?"},
		{"unknown key", head + "colour: red\n", "spec.yaml:4: colour: unknown key (a spec takes "},
		{"duplicate key", head + "cpus: 1\ncpus: 2\n", "spec.yaml:5: cpus: given twice (first on line 4)"},
		{"missing folder", "name: hello\napp:\n  go: ./helo\n", "spec.yaml:3: app.go: folder ./helo does not exist"},
		{"go not a folder", "name: hello\napp:\n  go: ./prog\n", "spec.yaml:3: app.go: ./prog is not a folder"},
		{"missing binary", "name: hello\napp: {binary: ./nope}\n", "spec.yaml:2: app.binary: file ./nope does not exist"},
		{"both go and binary", head + "  binary: ./prog\n", "spec.yaml:4: app.binary: give either app.go or app.binary, not both"},
		{"neither", "name: hello\napp: {args: [a]}\n", "spec.yaml:2: app: give go (a folder with a Go main package) or binary"},
		{"no app", "name: hello\n", "spec.yaml: app: missing"},
		{"no name", "app: {go: ./hello}\n", "spec.yaml: name: missing"},
		{"bad name", "name: Hello_World\napp: {go: ./hello}\n", `spec.yaml:1: name: "Hello_World" is not a name`},
		{"bad size", head + "disks:\n  - {name: data, size: 64MB, mount: /data}\n", `spec.yaml:5: disks[0].size: size "64MB": MB is ambiguous`},
		{"tiny disk", head + "disks:\n  - {name: data, size: 4K, mount: /data}\n", "spec.yaml:5: disks[0].size: 4K is below the minimum of 1 MiB"},
		{"disk no mount", head + "disks:\n  - name: data\n    size: 4M\n", "spec.yaml:5: disks[0].mount: missing"},
		{"disk twice", head + "disks:\n  - {name: d, size: 4M, mount: /a}\n  - {name: d, size: 4M, mount: /b}\n", `spec.yaml:6: disks[1].name: disk "d" is already disks[0]`},
		{"disk from missing", head + "disks:\n  - {name: d, size: 4M, mount: /a, from: ./nope}\n", "spec.yaml:5: disks[0].from: folder ./nope does not exist"},
		{"bad memory", head + "memory: 256\n", `spec.yaml:4: memory: "256" has no unit: write 256M`},
		{"small memory", head + "memory: 1M\n", "spec.yaml:4: memory: 1M is below the minimum of 16 MiB"},
		{"bad user", head + "  user: bob\n", `spec.yaml:4: app.user: "bob" is not uid:gid (numbers, e.g. 1000:1000) or root`},
		{"bad user number", head + "  user: 1000:x\n", `spec.yaml:4: app.user: "1000:x" is not uid:gid`},
		{"bad forward", head + "network:\n  forwards: [\"tcp:127.0.0.1:8080\"]\n", `spec.yaml:5: network.forwards[0]: host forward "tcp:127.0.0.1:8080": missing '-'`},
		{"forward proto", head + "network:\n  forwards: [\"sctp::80-:80\"]\n", `network.forwards[0]: host forward "sctp::80-:80": protocol "sctp" is neither tcp nor udp`},
		{"forwards without net", head + "network:\n  mode: none\n  forwards: [\"tcp::8080-:80\"]\n", "spec.yaml:6: network.forwards: forwards need network mode user"},
		{"bad net mode", head + "network: {mode: tap}\n", `spec.yaml:4: network.mode: "tap" is not a network mode (user or none)`},
		{"bad cpus", head + "cpus: many\n", `spec.yaml:4: cpus: "many" is not a whole number`},
		{"cpus range", head + "cpus: 64\n", "spec.yaml:4: cpus: 64 is out of range (1 to 32)"},
		{"bad on_exit", head + "on_exit: reboot\n", `spec.yaml:4: on_exit: "reboot" is neither poweroff nor restart`},
		{"args not a list", head + "  args: a b\n", `spec.yaml:4: app.args: want a list, not "a b"`},
		{"env as list", head + "  env: [A=1]\n", "spec.yaml:4: app.env: want a mapping (NAME: value, ...), not a list"},
		{"bad env name", head + "  env: {A-B: 1}\n", `spec.yaml:4: app.env.A-B: "A-B" is not an environment variable name`},
		{"relative to", head + "files:\n  - {from: ./static, to: srv}\n", `spec.yaml:5: files[0].to: "srv" is not an absolute guest path`},
		{"to under dev", head + "files:\n  - {from: ./static, to: /dev/x}\n", "spec.yaml:5: files[0].to: /dev/x is under /dev"},
		{"missing from", head + "files:\n  - {from: ./statik, to: /srv}\n", "spec.yaml:5: files[0].from: ./statik does not exist"},
		{"workdir relative", head + "  workdir: srv\n", `spec.yaml:4: app.workdir: "srv" is not an absolute guest path`},
		{"kernel both", head + "kernel: {config: [extra.config], image: ./Image}\n", "spec.yaml:4: kernel.image: give either kernel.config"},
		{"kernel fragment missing", head + "kernel:\n  config: [nope.config]\n", "spec.yaml:5: kernel.config[0]: file nope.config does not exist"},
		{"syntax", head + "files: [\n", "spec.yaml:4: did not find expected node content"},
		{"not a mapping", "- a\n- b\n", "spec.yaml:1: a spec is a mapping of keys"},
		{"empty", "", "spec.yaml: empty spec"},
		{"two documents", head + "---\nname: x\n", "spec.yaml:4: more than one YAML document"},
		{"kernel as string", head + "kernel: jeos\n", `spec.yaml:4: kernel: want a mapping of keys (config, image), not "jeos"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse(t, dir, c.text)
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			msg := strings.TrimPrefix(err.Error(), dir+"/")
			if !strings.HasPrefix(msg, c.want) && !strings.Contains(msg, c.want) {
				t.Errorf("error:\n got %q\nwant %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error has more than one line: %q", msg)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("not a *spec.Error: %T", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := tree(t)
	p := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(p, []byte("name: x\napp: {go: hello}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil || s.Resolve(s.App.Go) != filepath.Join(dir, "hello") {
		t.Fatalf("Load: %v %v", s, err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml: cannot read the spec: no such file or directory") {
		t.Errorf("missing spec: %v", err)
	}
}
