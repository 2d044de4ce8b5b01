// Package spec reads appliance specs: the YAML files `juice build` turns
// into bootable appliance folders (see docs/appliance-spec.md).
//
// Parsing is strict. Unknown keys, keys given twice and values of the wrong
// kind are errors, and every error names the spec file, the line and the
// key at fault, as in
//
//	spec.yaml:7: app.go: folder ./helo does not exist
//
// Relative paths in a spec are relative to the folder holding the spec
// file. A parsed Spec keeps them as written (so that it can be recorded in
// an appliance's manifest independently of where the spec lives); Resolve
// turns one into a host path.
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/usernet"
)

// Defaults and limits.
const (
	// DefaultCPUs is the number of harts when cpus is not given.
	DefaultCPUs = 1
	// MaxCPUs is the largest cpus (machine.MaxCPUs).
	MaxCPUs = 32
	// DefaultMemory is the RAM size when memory is not given.
	DefaultMemory = "256M"
	// MinMemory and MaxMemory bound memory (machine.MinMemory and
	// machine.MaxMemory).
	MinMemory int64 = 16 << 20
	MaxMemory int64 = 64 << 30
	// DefaultWorkdir is the app's working directory when workdir is not
	// given.
	DefaultWorkdir = "/"
	// MaxDisks is the largest number of disks: Juice has eight virtio
	// slots, and the network and entropy devices take two.
	MaxDisks = 6
	// MaxNameLen is the longest appliance name (a host name label).
	MaxNameLen = 63
	// MaxDiskNameLen is the longest disk name (it is also the virtio-blk
	// serial, which holds 20 bytes).
	MaxDiskNameLen = 20
	// MinDiskSize is the smallest disk (diskimage.MinSize).
	MinDiskSize = diskimage.MinSize
)

// Values of Network.Mode.
const (
	NetworkUser = "user"
	NetworkNone = "none"
)

// Values of OnExit.
const (
	OnExitPoweroff = "poweroff"
	OnExitRestart  = "restart"
)

// Spec is a parsed, validated appliance spec with its defaults filled in.
// The yaml and json tags are the spec's keys; the JSON form is what an
// appliance's manifest records as "spec".
type Spec struct {
	// Name names the appliance and is the guest's host name.
	Name string `yaml:"name" json:"name"`
	// Kernel selects the kernel.
	Kernel Kernel `yaml:"kernel" json:"kernel"`
	// App is the application the appliance runs.
	App App `yaml:"app" json:"app"`
	// Files are host files and folders copied into the initramfs.
	Files []File `yaml:"files" json:"files"`
	// Network configures networking; Mode is NetworkNone when the spec has
	// no network key.
	Network Network `yaml:"network" json:"network"`
	// Disks are ext4 disk images made for the appliance, in the order the
	// guest sees them (/dev/vda, /dev/vdb, ...).
	Disks []Disk `yaml:"disks" json:"disks"`
	// CPUs is the number of harts.
	CPUs int `yaml:"cpus" json:"cpus"`
	// Memory is the RAM size as written (e.g. "256M").
	Memory string `yaml:"memory" json:"memory"`
	// OnExit is what happens when the app exits: OnExitPoweroff or
	// OnExitRestart.
	OnExit string `yaml:"on_exit" json:"on_exit"`

	// File is the spec file's path as given to Load or Parse.
	File string `yaml:"-" json:"-"`
	// Dir is the absolute folder relative paths are resolved against.
	Dir string `yaml:"-" json:"-"`
	// MemoryBytes is Memory in bytes.
	MemoryBytes int64 `yaml:"-" json:"-"`

	// lines maps key paths ("app.go", "files[0].to") to their lines.
	lines map[string]int
}

// Kernel selects the appliance's kernel: the JeOS kernel built with extra
// config fragments (Config), or a given Image (Image). Both empty means the
// JeOS kernel as it is.
type Kernel struct {
	// Config lists extra kernel config fragment files.
	Config []string `yaml:"config" json:"config,omitempty"`
	// Image is a RISC-V kernel Image to use instead of building one.
	Image string `yaml:"image" json:"image,omitempty"`
}

// App is the application: exactly one of Go and Binary is set.
type App struct {
	// Go is a folder holding a Go main package.
	Go string `yaml:"go" json:"go,omitempty"`
	// Binary is a prebuilt riscv64 ELF executable.
	Binary string `yaml:"binary" json:"binary,omitempty"`
	// Args are the app's arguments (not counting argv[0]).
	Args []string `yaml:"args" json:"args"`
	// Env is the app's environment.
	Env map[string]string `yaml:"env" json:"env"`
	// Workdir is the app's working directory in the guest.
	Workdir string `yaml:"workdir" json:"workdir"`
	// User is "root" or "UID:GID".
	User string `yaml:"user" json:"user"`

	// UID and GID are User as numbers.
	UID uint32 `yaml:"-" json:"-"`
	GID uint32 `yaml:"-" json:"-"`
}

// File places a host file or folder (recursively) at a guest path.
type File struct {
	// From is the host path.
	From string `yaml:"from" json:"from"`
	// To is the absolute guest path.
	To string `yaml:"to" json:"to"`
}

// Network configures the appliance's network device.
type Network struct {
	// Mode is NetworkUser (Juice's user-mode network; the guest gets its
	// address by DHCP) or NetworkNone (no network device).
	Mode string `yaml:"mode" json:"mode"`
	// Forwards are host port forwards in QEMU's hostfwd syntax, such as
	// "tcp:127.0.0.1:8080-:80".
	Forwards []string `yaml:"forwards" json:"forwards"`
}

// Disk is an ext4 disk image built for the appliance.
type Disk struct {
	// Name names the disk: its file is NAME.img and its virtio serial NAME.
	Name string `yaml:"name" json:"name"`
	// Size is the image size as written (e.g. "64M").
	Size string `yaml:"size" json:"size"`
	// Mount is where the guest mounts it.
	Mount string `yaml:"mount" json:"mount"`
	// From is an optional host folder whose contents fill the disk.
	From string `yaml:"from" json:"from,omitempty"`

	// SizeBytes is Size in bytes.
	SizeBytes int64 `yaml:"-" json:"-"`
}

// Error is a problem with a spec: in File, at Line (0 when unknown), with
// the value of Key (a path such as "app.go" or "disks[0].size"; empty for
// the whole file).
type Error struct {
	File string
	Line int
	Key  string
	Err  error
}

// Error formats the error as FILE:LINE: KEY: MESSAGE.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Load reads and parses the spec file at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: fmt.Errorf("cannot read the spec: %w", err)}
	}
	return Parse(data, path)
}

// Parse parses and validates a spec read from the file at path (which
// names the file in errors and anchors relative paths; the file itself is
// not read). Files the spec names must exist.
func Parse(data []byte, file string) (*Spec, error) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	s := &Spec{File: file, Dir: dir, lines: map[string]int{}}
	fail := func(line int, key string, err error) error {
		return &Error{File: file, Line: line, Key: key, Err: err}
	}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "", errors.New("empty spec (it needs at least name and app)"))
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fail(extra.Line, "", errors.New("more than one YAML document (one spec per file)"))
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "", errors.New("a spec is a mapping of keys (name:, app:, ...)"))
	}
	// Check keys and value kinds against the schema, with lines...
	if err := s.check(root, specType, ""); err != nil {
		return nil, err
	}
	// ...then decode strictly; after check this cannot fail on a key.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var raw rawSpec
	if err := strict.Decode(&raw); err != nil {
		return nil, yamlError(file, err)
	}
	s.Name, s.Kernel, s.App, s.Files, s.Disks = raw.Name, raw.Kernel, raw.App, raw.Files, raw.Disks
	s.CPUs, s.Memory, s.OnExit = raw.CPUs, raw.Memory, raw.OnExit
	if raw.Network != nil {
		s.Network = *raw.Network
	}
	if err := s.validate(raw); err != nil {
		return nil, err
	}
	return s, nil
}

// rawSpec is the YAML form: pointers tell absent keys from empty ones.
type rawSpec struct {
	Name    string   `yaml:"name"`
	Kernel  Kernel   `yaml:"kernel"`
	App     App      `yaml:"app"`
	Files   []File   `yaml:"files"`
	Network *Network `yaml:"network"`
	Disks   []Disk   `yaml:"disks"`
	CPUs    int      `yaml:"cpus"`
	Memory  string   `yaml:"memory"`
	OnExit  string   `yaml:"on_exit"`
}

// yamlLine matches the "line N: " yaml.v3 puts in its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into an Error.
func yamlError(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: n, Err: errors.New(m[2])}
	}
	return &Error{File: file, Err: errors.New(strings.TrimPrefix(msg, "yaml: "))}
}

// Line returns the line of key (a path such as "app.go" or "files[1].to"),
// or of its closest enclosing key, or 0.
func (s *Spec) Line(key string) int {
	for key != "" {
		if n, ok := s.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// Errorf returns an Error about key, at its line in the spec.
func (s *Spec) Errorf(key, format string, args ...any) error {
	return &Error{File: s.File, Line: s.Line(key), Key: key, Err: fmt.Errorf(format, args...)}
}

// Resolve returns the host path of a path from the spec: relative paths
// are relative to the spec's folder.
func (s *Spec) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.Dir, p)
}

// IsJeOS reports whether the appliance uses the JeOS kernel (with
// Kernel.Config fragments) rather than a given Image.
func (s *Spec) IsJeOS() bool { return s.Kernel.Image == "" }

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate fills in defaults and checks every value, in the order of the
// keys in the schema.
func (s *Spec) validate(raw rawSpec) error {
	// name
	switch {
	case s.Name == "":
		return s.missing("name", "the appliance's name, e.g. name: hello")
	case !nameRE.MatchString(s.Name):
		return s.Errorf("name", "%q is not a name: use lower-case letters, digits and '-', starting with a letter or digit", s.Name)
	case len(s.Name) > MaxNameLen:
		return s.Errorf("name", "%q is longer than %d characters", s.Name, MaxNameLen)
	}

	// kernel
	if s.Kernel.Image != "" && len(s.Kernel.Config) > 0 {
		return s.Errorf("kernel.image", "give either kernel.config (fragments for the JeOS kernel) or kernel.image, not both")
	}
	for i, c := range s.Kernel.Config {
		if err := s.checkFile(fmt.Sprintf("kernel.config[%d]", i), c, "file"); err != nil {
			return err
		}
	}
	if s.Kernel.Image != "" {
		if err := s.checkFile("kernel.image", s.Kernel.Image, "file"); err != nil {
			return err
		}
	}

	// app
	a := &s.App
	if _, ok := s.lines["app"]; !ok {
		return s.missing("app", "the application: app: {go: ./folder} or app: {binary: ./program}")
	}
	switch {
	case a.Go != "" && a.Binary != "":
		return s.Errorf("app.binary", "give either app.go or app.binary, not both")
	case a.Go != "":
		if err := s.checkFile("app.go", a.Go, "folder"); err != nil {
			return err
		}
	case a.Binary != "":
		if err := s.checkFile("app.binary", a.Binary, "file"); err != nil {
			return err
		}
	default:
		return s.Errorf("app", "give go (a folder with a Go main package) or binary (a riscv64 ELF)")
	}
	if a.Args == nil {
		a.Args = []string{}
	}
	for i, arg := range a.Args {
		if strings.ContainsRune(arg, 0) {
			return s.Errorf(fmt.Sprintf("app.args[%d]", i), "contains a NUL byte")
		}
	}
	if a.Env == nil {
		a.Env = map[string]string{}
	}
	for _, k := range sortedKeys(a.Env) {
		if !envRE.MatchString(k) {
			return s.Errorf("app.env."+k, "%q is not an environment variable name (letters, digits, '_')", k)
		}
		if strings.ContainsRune(a.Env[k], 0) {
			return s.Errorf("app.env."+k, "the value contains a NUL byte")
		}
	}
	if a.Workdir == "" {
		a.Workdir = DefaultWorkdir
	}
	if err := s.checkGuestPath("app.workdir", a.Workdir, true); err != nil {
		return err
	}
	if a.User == "" {
		a.User = "root"
	}
	if a.User == "root" {
		a.UID, a.GID = 0, 0
	} else {
		u, g, ok := strings.Cut(a.User, ":")
		uid, err1 := strconv.ParseUint(u, 10, 32)
		gid, err2 := strconv.ParseUint(g, 10, 32)
		if !ok || err1 != nil || err2 != nil || uid == 1<<32-1 || gid == 1<<32-1 {
			return s.Errorf("app.user", "%q is not uid:gid (numbers, e.g. 1000:1000) or root", a.User)
		}
		a.UID, a.GID = uint32(uid), uint32(gid)
	}

	// files
	if s.Files == nil {
		s.Files = []File{}
	}
	for i, f := range s.Files {
		key := fmt.Sprintf("files[%d]", i)
		if f.From == "" {
			return s.missing(key+".from", "the host file or folder")
		}
		if err := s.checkExists(key+".from", f.From); err != nil {
			return err
		}
		if f.To == "" {
			return s.missing(key+".to", "the absolute guest path")
		}
		if err := s.checkGuestPath(key+".to", f.To, false); err != nil {
			return err
		}
	}

	// network
	n := &s.Network
	if raw.Network == nil {
		n.Mode = NetworkNone
	} else if n.Mode == "" {
		n.Mode = NetworkUser
	}
	if n.Forwards == nil {
		n.Forwards = []string{}
	}
	switch n.Mode {
	case NetworkUser:
		for i, fw := range n.Forwards {
			if _, err := usernet.ParseForward(fw); err != nil {
				return s.Errorf(fmt.Sprintf("network.forwards[%d]", i), "%s", strings.TrimPrefix(err.Error(), "usernet: "))
			}
		}
	case NetworkNone:
		if len(n.Forwards) > 0 {
			return s.Errorf("network.forwards", "forwards need network mode user")
		}
	default:
		return s.Errorf("network.mode", "%q is not a network mode (user or none)", n.Mode)
	}

	// disks
	if s.Disks == nil {
		s.Disks = []Disk{}
	}
	if len(s.Disks) > MaxDisks {
		return s.Errorf(fmt.Sprintf("disks[%d]", MaxDisks), "at most %d disks", MaxDisks)
	}
	names, mounts := map[string]int{}, map[string]int{}
	for i := range s.Disks {
		d := &s.Disks[i]
		key := fmt.Sprintf("disks[%d]", i)
		switch {
		case d.Name == "":
			return s.missing(key+".name", "the disk's name, e.g. data")
		case !nameRE.MatchString(d.Name):
			return s.Errorf(key+".name", "%q is not a disk name: use lower-case letters, digits and '-'", d.Name)
		case len(d.Name) > MaxDiskNameLen:
			return s.Errorf(key+".name", "%q is longer than %d characters", d.Name, MaxDiskNameLen)
		}
		if j, ok := names[d.Name]; ok {
			return s.Errorf(key+".name", "disk %q is already disks[%d]", d.Name, j)
		}
		names[d.Name] = i
		if d.Size == "" {
			return s.missing(key+".size", "the image size, e.g. 64M")
		}
		size, err := bytesize.Parse(d.Size)
		if err != nil {
			return s.Errorf(key+".size", "%s", err)
		}
		switch {
		case size < MinDiskSize:
			return s.Errorf(key+".size", "%s is below the minimum of %s", d.Size, bytesize.Format(MinDiskSize))
		case size%diskimage.SectorSize != 0:
			return s.Errorf(key+".size", "%s is not a multiple of %d bytes", d.Size, diskimage.SectorSize)
		}
		d.SizeBytes = size
		if d.Mount == "" {
			return s.missing(key+".mount", "where the guest mounts it, e.g. /data")
		}
		if err := s.checkGuestPath(key+".mount", d.Mount, false); err != nil {
			return err
		}
		if j, ok := mounts[d.Mount]; ok {
			return s.Errorf(key+".mount", "%s is already the mount point of disks[%d]", d.Mount, j)
		}
		mounts[d.Mount] = i
		if d.From != "" {
			if err := s.checkFile(key+".from", d.From, "folder"); err != nil {
				return err
			}
		}
	}

	// cpus
	if _, ok := s.lines["cpus"]; !ok {
		s.CPUs = DefaultCPUs
	}
	if s.CPUs < 1 || s.CPUs > MaxCPUs {
		return s.Errorf("cpus", "%d is out of range (1 to %d)", s.CPUs, MaxCPUs)
	}

	// memory
	if s.Memory == "" {
		s.Memory = DefaultMemory
	}
	mem, err := parseMemory(s.Memory)
	if err != nil {
		return s.Errorf("memory", "%s", err)
	}
	s.MemoryBytes = mem

	// on_exit
	if s.OnExit == "" {
		s.OnExit = OnExitPoweroff
	}
	if s.OnExit != OnExitPoweroff && s.OnExit != OnExitRestart {
		return s.Errorf("on_exit", "%q is neither poweroff nor restart", s.OnExit)
	}
	return nil
}

// parseMemory parses a RAM size (see package bytesize).
func parseMemory(v string) (int64, error) {
	n, err := bytesize.Parse(v)
	if err != nil {
		return 0, errors.New(strings.TrimPrefix(err.Error(), "size "))
	}
	switch {
	case n < MinMemory:
		return 0, fmt.Errorf("%s is below the minimum of %s", v, bytesize.Format(MinMemory))
	case n > MaxMemory:
		return 0, fmt.Errorf("%s is above the maximum of %s", v, bytesize.Format(MaxMemory))
	case n%4096 != 0:
		return 0, fmt.Errorf("%s is not a multiple of 4 KiB", v)
	}
	return n, nil
}

// missing reports a required key that the spec lacks.
func (s *Spec) missing(key, what string) error {
	return s.Errorf(key, "missing (%s)", what)
}

// checkExists checks that a host path from the spec exists.
func (s *Spec) checkExists(key, p string) error {
	if _, err := os.Stat(s.Resolve(p)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return s.Errorf(key, "%s does not exist", p)
		}
		return s.Errorf(key, "%s: %v", p, unwrapPath(err))
	}
	return nil
}

// checkFile checks that a host path from the spec is a regular file
// (kind "file") or a folder (kind "folder").
func (s *Spec) checkFile(key, p, kind string) error {
	st, err := os.Stat(s.Resolve(p))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return s.Errorf(key, "%s %s does not exist", kind, p)
		}
		return s.Errorf(key, "%s: %v", p, unwrapPath(err))
	}
	switch {
	case kind == "folder" && !st.IsDir():
		return s.Errorf(key, "%s is not a folder", p)
	case kind == "file" && !st.Mode().IsRegular():
		return s.Errorf(key, "%s is not a regular file", p)
	}
	return nil
}

// checkGuestPath checks an absolute guest path. Only when root is set may
// it be "/". Paths under /proc, /sys and /dev are refused, since init
// mounts file systems there.
func (s *Spec) checkGuestPath(key, p string, root bool) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return s.Errorf(key, "%q is not an absolute guest path", p)
	case strings.ContainsRune(p, 0):
		return s.Errorf(key, "%q contains a NUL byte", p)
	case path.Clean(p) != p:
		return s.Errorf(key, "%q is not a clean path (write %s)", p, path.Clean(p))
	case p == "/" && !root:
		return s.Errorf(key, "cannot be /")
	}
	for _, m := range []string{"/proc", "/sys", "/dev"} {
		if p == m || strings.HasPrefix(p, m+"/") {
			return s.Errorf(key, "%s is under %s, which the guest's init mounts over", p, m)
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
