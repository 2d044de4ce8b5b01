package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/juicevm/juice/internal/appliance"
)

// Issue 9, "Nothing lost, nothing escapes": juice build and juice disk
// create pointed at their own inputs, at existing folders and at symbolic
// links change nothing they were not asked to write, and refuse with one
// line and status 125; a spec reads nothing outside its build context;
// rebuilding keeps the disks' data.

// safetySpec is the spec of the test project: a given kernel Image and a
// prebuilt app (so no kernel or app is built), files and a disk filled
// from a folder.
const safetySpec = `name: safe
kernel: {image: ./Image}
app: {binary: ./app}
files:
  - {from: ./static, to: /srv}
disks:
  - {name: data, size: 2M, mount: /data, from: ./seed}
`

// riscvELF is a minimal static riscv64 executable (exit(0)): enough for
// juice build's app.binary.
func riscvELF() []byte {
	code := []uint32{0x05d00893, 0x00000513, 0x00000073} // li a7,93; li a0,0; ecall
	le := binary.LittleEndian
	const base, hdr = 0x10000, 64 + 56
	size := uint64(hdr + 4*len(code))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, le, struct {
		Type, Machine              uint16
		Version                    uint32
		Entry, Phoff, Shoff        uint64
		Flags                      uint32
		Ehsize, Phentsize, Phnum   uint16
		Shentsize, Shnum, Shstrndx uint16
	}{2, 243, 1, base + hdr, 64, 0, 5, 64, 56, 1, 64, 0, 0}) // ET_EXEC, EM_RISCV, RVC|double
	binary.Write(&b, le, struct {
		Type, Flags                             uint32
		Off, Vaddr, Paddr, Filesz, Memsz, Align uint64
	}{1, 5, 0, base, base, size, size, 0x1000}) // PT_LOAD, R+X
	binary.Write(&b, le, code)
	return b.Bytes()
}

// mkfiles writes name → contents under root; a name ending in "/" is a
// folder, "@TARGET" as contents makes a symbolic link.
func mkfiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names) // parents first
	for _, n := range names {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := files[n]
		var err error
		switch {
		case strings.HasSuffix(n, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(data, "@"):
			err = os.Symlink(data[1:], p)
		default:
			err = os.WriteFile(p, []byte(data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// safetyTree makes the test tree: the project (root/proj), an unrelated
// folder with files (root/other), a file and links to it and to the
// folder, and a folder outside the project (root/outside).
func safetyTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mkfiles(t, root, map[string]string{
		"proj/juice.yaml":         safetySpec,
		"proj/Image":              string(image()),
		"proj/app":                string(riscvELF()),
		"proj/static/index.html":  "<p>hi</p>\n",
		"proj/static/css/a.css":   "p{}\n",
		"proj/static/home.html":   "@index.html",
		"proj/seed/hello.txt":     "hello from the disk\n",
		"other/notes.txt":         "my notes\n",
		"other/sub/keep.txt":      "keep me\n",
		"notes.txt":               "notes\n",
		"file-link":               "@notes.txt",
		"dir-link":                "@other",
		"outside/secret":          "secret\n",
		"outside/dir/more.txt":    "more\n",
		"outside/app":             string(riscvELF()),
		"outside/seed/hello.txt":  "hello\n",
		"outside/Image":           string(image()),
		"proj/link-out-file":      "@../outside/secret",
		"proj/link-out-dir":       "@../outside/dir",
		"proj/link-in-dir":        "@static",
		"proj/link-in-file":       "@static/index.html",
		"proj/link-out-app":       "@../outside/app",
		"proj/sub/link-up":        "@../../outside",
		"proj/empty/":             "",
		"proj/static/css/x.css":   "x{}\n",
		"proj/seed/deeper/more.d": "more\n",
	})
	return root
}

// juiceIn runs juice in the folder dir.
func juiceIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(juice(t), args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// wantRefusal fails unless a command exited 125 with one line on stderr
// that holds every one of want.
func wantRefusal(t *testing.T, stderr string, code int, want ...string) {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if code != exitError || strings.Count(msg, "\n") != 0 || strings.Contains(msg, "goroutine") {
		t.Fatalf("status %d, want %d with one line on stderr:\n%s", code, exitError, stderr)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("message %q does not say %q", msg, w)
		}
	}
	t.Logf("%s", msg)
}

// unchanged fails if the tree at root differs from before.
func unchanged(t *testing.T, root string, before map[string]string) {
	t.Helper()
	if d := diffTrees(before, treeState(t, root)); d != nil {
		t.Fatalf("the tree changed:\n%s", strings.Join(d, "\n"))
	}
}

// onlyUnder fails if the tree at root changed anywhere but under the
// folder out (relative to root).
func onlyUnder(t *testing.T, root, out string, before map[string]string) {
	t.Helper()
	for _, d := range diffTrees(before, treeState(t, root)) {
		if p := diffPath(d); p != out && !strings.HasPrefix(p, out+"/") {
			t.Fatalf("changed outside %s: %s", out, d)
		}
	}
}

// buildOK runs juice build and fails unless it succeeds; it returns
// stderr.
func buildOK(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := runJuice(t, append([]string{"build"}, args...)...)
	if code != 0 {
		t.Fatalf("juice build %s: status %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stderr
}

// readManifest reads an appliance's manifest.json.
func readManifest(t *testing.T, dir string) appliance.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, appliance.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m appliance.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sha is "sha256:HEX" of a file, as manifests write digests.
func sha(t *testing.T, p string) string {
	t.Helper()
	sum := fileDigest(t, p)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestBuildOutputSafety points juice build's output at the spec's folder,
// at unrelated folders, at symbolic links and at each of its inputs: every
// one is refused and the whole tree stays as it was. Outputs inside the
// folders it copies work, and are left out of the appliance.
func TestBuildOutputSafety(t *testing.T) {
	root := safetyTree(t)
	proj := filepath.Join(root, "proj")
	spec := filepath.Join(proj, "juice.yaml")
	mkfiles(t, root, map[string]string{
		"bogus/manifest.json":  `{"not": "an appliance"}`,
		"bogus/notes.txt":      "mine\n",
		"broken/manifest.json": "{",
	})
	for _, c := range []struct {
		name, dir, out string
		want           []string
	}{
		{"the spec's folder", "", proj, []string{"is the spec's folder"}},
		{"the spec's folder as .", proj, ".", []string{"output . is the spec's folder"}},
		{"a folder holding the spec", "", root, []string{"holds the spec's folder"}},
		{"an unrelated folder", "", filepath.Join(root, "other"), []string{"notes.txt", "no manifest.json"}},
		{"a folder with a foreign manifest.json", "", filepath.Join(root, "bogus"), []string{"not an appliance manifest"}},
		{"a folder with a broken manifest.json", "", filepath.Join(root, "broken"), []string{"not an appliance manifest"}},
		{"a symlink to a file", "", filepath.Join(root, "file-link"), []string{"symbolic link"}},
		{"a symlink to a folder", "", filepath.Join(root, "dir-link"), []string{"symbolic link"}},
		{"a symlink to an input folder", "", filepath.Join(proj, "link-in-dir"), []string{"symbolic link"}},
		{"the spec file", "", spec, []string{"is the spec file"}},
		{"app.binary", "", filepath.Join(proj, "app"), []string{"is app.binary (./app)"}},
		{"kernel.image", "", filepath.Join(proj, "Image"), []string{"is kernel.image (./Image)"}},
		{"files[0].from", "", filepath.Join(proj, "static"), []string{"is files[0].from (./static)"}},
		{"a file of files[0].from", "", filepath.Join(proj, "static", "index.html"), []string{"exists and is not a folder"}},
		{"disks[0].from", "", filepath.Join(proj, "seed"), []string{"is disks[0].from (./seed)"}},
		{"a plain file", "", filepath.Join(root, "notes.txt"), []string{"exists and is not a folder"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := treeState(t, root)
			dir := c.dir
			if dir == "" {
				dir = root
			}
			_, stderr, code := juiceIn(t, dir, "build", spec, "-o", c.out)
			wantRefusal(t, stderr, code, c.want...)
			unchanged(t, root, before)
		})
	}

	// Outputs that may be written: only they change.
	before := treeState(t, root)
	buildOK(t, spec, "-o", filepath.Join(root, "new.appliance"))
	onlyUnder(t, root, "new.appliance", before)
	fresh := readManifest(t, filepath.Join(root, "new.appliance"))

	for _, out := range []string{"proj/static/out.appliance", "proj/seed/out.appliance", "proj/empty"} {
		t.Run(out, func(t *testing.T) {
			dir := filepath.Join(root, out)
			defer os.RemoveAll(dir) // not to be copied by the next case
			for run := range 2 {    // the second finds the first's appliance in the folder it copies
				before := treeState(t, root)
				buildOK(t, spec, "-o", dir, "--fresh-disks")
				onlyUnder(t, root, out, before)
				for _, n := range cpioNames(t, filepath.Join(dir, appliance.InitrdFile)) {
					if strings.Contains(n, "out.appliance") || strings.Contains(n, "manifest.json") || strings.Contains(n, ".tmp-") {
						t.Fatalf("run %d: the initramfs holds %s", run+1, n)
					}
				}
				// The disk image is the one made where nothing is inside seed.
				m := readManifest(t, dir)
				if m.Digests["data.img"] != fresh.Digests["data.img"] || m.Digests[appliance.InitrdFile] != fresh.Digests[appliance.InitrdFile] {
					t.Fatalf("run %d: the appliance differs from one built elsewhere: %v vs %v", run+1, m.Digests, fresh.Digests)
				}
			}
		})
	}
}

// TestBuildReplacesOnlyWhatItWrote checks item 1: -o . in the project is
// refused (it used to remove the project), and an earlier appliance with
// anything else in its folder is not replaced.
func TestBuildReplacesOnlyWhatItWrote(t *testing.T) {
	root := safetyTree(t)
	proj := filepath.Join(root, "proj")
	spec := filepath.Join(proj, "juice.yaml")

	// A manifest.json of one's own in the project used to make -o . remove
	// the whole folder, with status 0.
	mkfiles(t, root, map[string]string{"proj/manifest.json": `{"format": 1, "name": "mine", "kernel": "Image"}`})
	before := treeState(t, root)
	_, stderr, code := juiceIn(t, proj, "build", "juice.yaml", "-o", ".")
	wantRefusal(t, stderr, code, "output . is the spec's folder", "choose another folder with -o")
	unchanged(t, root, before)

	out := filepath.Join(root, "safe.appliance")
	buildOK(t, spec, "-o", out)
	before = treeState(t, root)
	buildOK(t, spec, "-o", out) // a rebuild replaces the earlier appliance
	onlyUnder(t, root, "safe.appliance", before)

	// Something of the user's in the appliance folder: not replaced.
	mkfiles(t, out, map[string]string{"notes.txt": "mine\n", "logs/": ""})
	before = treeState(t, root)
	_, stderr, code = runJuice(t, "build", spec, "-o", out)
	wantRefusal(t, stderr, code, "logs/ and notes.txt", "which no earlier build wrote", "move it away")
	unchanged(t, root, before)

	// An empty folder may be used, and keeps its mode.
	empty := filepath.Join(root, "empty.appliance")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	buildOK(t, spec, "-o", empty)
	if st, err := os.Stat(empty); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the folder: %v, %v", st, err)
	}
	if ents, _ := os.ReadDir(root); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.Contains(e.Name(), ".tmp-") }) {
		t.Fatalf("temporary folders left in %s: %v", root, ents)
	}
}

// inode is a file's inode number.
func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// TestBuildKeepsDisks checks item 2: a rebuild keeps the disk images (by
// moving them, not copying), says so, records their digests, and a failed
// build leaves the appliance as it was.
func TestBuildKeepsDisks(t *testing.T) {
	root := safetyTree(t)
	proj := filepath.Join(root, "proj")
	spec := filepath.Join(proj, "juice.yaml")
	out := filepath.Join(root, "safe.appliance")
	img := filepath.Join(out, "data.img")

	stderr := buildOK(t, spec, "-o", out)
	if !strings.Contains(stderr, "juice: build: disk data.img: new 2 MiB ext4 image from ./seed\n") {
		t.Fatalf("stderr of the first build:\n%s", stderr)
	}
	// The guest's data, as a run would leave it.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("the guest's data"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, ino := sha(t, img), inode(t, img)

	stderr = buildOK(t, spec, "-o", out)
	if !strings.Contains(stderr, "juice: build: disk data.img: kept the existing image (its data stays; --fresh-disks makes a new one); disks[0].from fills new images only\n") {
		t.Fatalf("stderr of the rebuild:\n%s", stderr)
	}
	m := readManifest(t, out)
	if sha(t, img) != data || inode(t, img) != ino {
		t.Fatal("the rebuild did not keep the disk image itself")
	}
	if m.Digests["data.img"] != data || len(m.Disks) != 1 || m.Disks[0].Size != 2<<20 {
		t.Fatalf("manifest: digest %s (file %s), disks %+v", m.Digests["data.img"], data, m.Disks)
	}

	// The spec asks for another size: kept, and said.
	specText := strings.Replace(safetySpec, "size: 2M", "size: 4M", 1)
	if err := os.WriteFile(spec, []byte(specText), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr = buildOK(t, spec, "-o", out)
	if !strings.Contains(stderr, "disk data.img: kept the existing image (its data stays; --fresh-disks makes a new one); it is 2 MiB, not the 4M of disks[0].size") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	if sha(t, img) != data || readManifest(t, out).Disks[0].Size != 2<<20 {
		t.Fatal("the image changed")
	}

	// A build that fails after the kernel and initramfs are written (a
	// second disk too small for its contents) leaves everything as it was.
	mkfiles(t, root, map[string]string{"proj/big/blob": strings.Repeat("x", 3<<20)})
	if err := os.WriteFile(spec, []byte(specText+"  - {name: big, size: 1M, mount: /big, from: ./big}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, root)
	_, stderr, code := runJuice(t, "build", spec, "-o", out)
	wantRefusal(t, stderr, code, "disks[1].size: 1M is too small")
	unchanged(t, root, before)
	if inode(t, img) != ino {
		t.Fatal("the failed build moved the disk image")
	}

	// A disk the spec no longer has is not dropped silently.
	if err := os.WriteFile(spec, []byte(strings.Split(specText, "disks:")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	before = treeState(t, root)
	_, stderr, code = runJuice(t, "build", spec, "-o", out)
	wantRefusal(t, stderr, code, "data.img", "which the spec no longer has", "--fresh-disks")
	unchanged(t, root, before)

	// --fresh-disks makes a new one, and says so.
	if err := os.WriteFile(spec, []byte(specText), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr = buildOK(t, spec, "-o", out, "--fresh-disks")
	if !strings.Contains(stderr, "disk data.img: new 4 MiB ext4 image from ./seed (--fresh-disks: the earlier image is dropped)") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	if m := readManifest(t, out); sha(t, img) == data || m.Digests["data.img"] != sha(t, img) || m.Disks[0].Size != 4<<20 {
		t.Fatalf("--fresh-disks: digest %s, disks %+v", m.Digests["data.img"], m.Disks)
	}
}

// TestBuildContext checks item 9: every host path of a spec stays in the
// build context, through .. and symbolic links too, unless --context
// allows more; a symlink to a folder inside it is copied, not dropped.
func TestBuildContext(t *testing.T) {
	root := safetyTree(t)
	proj := filepath.Join(root, "proj")
	write := func(name, text string) string {
		p := filepath.Join(proj, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "name: ctx\nkernel: {image: ./Image}\napp: {binary: ./app}\n"
	withFiles := func(from string) string { return head + "files:\n  - {from: " + from + ", to: /etc/x}\n" }
	for _, c := range []struct {
		name, spec string
		want       []string
	}{
		{"..", withFiles("../outside/secret"), []string{":5: files[0].from: ../outside/secret is outside the build context " + proj + " (the spec's folder)", "--context"}},
		{"far up", withFiles("../../../../../../etc/passwd"), []string{":5: files[0].from:", "is outside the build context"}},
		{"absolute", withFiles("/etc/passwd"), []string{":5: files[0].from: /etc/passwd is outside the build context"}},
		{"symlink to a file", withFiles("./link-out-file"), []string{":5: files[0].from: ./link-out-file leads out of the build context", "(./link-out-file -> ../outside/secret)"}},
		{"symlink to a folder", withFiles("./link-out-dir"), []string{":5: files[0].from:", "(./link-out-dir -> ../outside/dir)"}},
		{"symlink along the path", withFiles("./sub/link-up/secret"), []string{":5: files[0].from:", "(./sub/link-up -> ../../outside)"}},
		{"app.binary", "name: ctx\nkernel: {image: ./Image}\napp:\n  binary: ./link-out-app\n", []string{":4: app.binary: ./link-out-app leads out of the build context"}},
		{"kernel.image", "name: ctx\nkernel:\n  image: ../outside/Image\napp: {binary: ./app}\n", []string{":3: kernel.image: ../outside/Image is outside"}},
		{"kernel.config", "name: ctx\nkernel:\n  config: [/etc/passwd]\napp: {binary: ./app}\n", []string{":3: kernel.config[0]: /etc/passwd is outside"}},
		{"app.go", "name: ctx\napp:\n  go: " + filepath.Join(examplesDir(t), "hello") + "\n", []string{":3: app.go:", "is outside the build context"}},
		{"disks[].from", head + "disks:\n  - {name: d, size: 2M, mount: /d, from: ../outside/seed}\n", []string{":5: disks[0].from: ../outside/seed is outside"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := write("ctx.yaml", c.spec)
			before := treeState(t, root)
			_, stderr, code := runJuice(t, "build", spec, "-o", filepath.Join(root, "ctx.appliance"))
			wantRefusal(t, stderr, code, append(c.want, spec)...)
			unchanged(t, root, before)
		})
	}

	// Links that stay inside: followed, the folder copied with what it
	// holds (it used to become an empty folder).
	spec := write("ctx.yaml", head+"files:\n  - {from: ./link-in-dir, to: /srv}\n  - {from: ./link-in-file, to: /etc/motd}\n")
	out := filepath.Join(root, "ctx.appliance")
	buildOK(t, spec, "-o", out)
	names := cpioNames(t, filepath.Join(out, appliance.InitrdFile))
	for _, want := range []string{"srv/index.html", "srv/css/a.css", "srv/home.html", "etc/motd"} {
		if !slices.Contains(names, want) {
			t.Errorf("the initramfs lacks %s: %v", want, names)
		}
	}

	// --context allows more.
	spec = write("ctx.yaml", withFiles("../outside/secret"))
	buildOK(t, spec, "-o", out, "--context", root)
	if !slices.Contains(cpioNames(t, filepath.Join(out, appliance.InitrdFile)), "etc/x") {
		t.Error("--context: the file is not in the initramfs")
	}
	_, stderr, code := runJuice(t, "build", spec, "-o", out, "--context", filepath.Join(root, "nonexistent"))
	wantRefusal(t, stderr, code, "build context", "nonexistent")
}

// TestDiskCreateSafety checks item 14 and the acceptance test for juice
// disk create: its output pointed at its --from folder, at folders, at
// symbolic links and at its inputs is refused with nothing changed; an
// image inside its --from folder leaves itself out, so runs agree.
func TestDiskCreateSafety(t *testing.T) {
	root := t.TempDir()
	mkfiles(t, root, map[string]string{
		"src/hello.txt":      "hello\n",
		"src/sub/data.bin":   strings.Repeat("data", 1000),
		"src/link":           "@hello.txt",
		"other/notes.txt":    "notes\n",
		"notes.txt":          "notes\n",
		"file-link":          "@notes.txt",
		"dir-link":           "@other",
		"big/blob":           strings.Repeat("x", 3<<20),
		"existing.img":       "keep me\n",
		"src-link":           "@src",
		"src/sub/.keep.tmp-": "not a temporary file of the image\n",
	})
	src := filepath.Join(root, "src")
	create := func(out string, extra ...string) (string, int) {
		_, stderr, code := runJuice(t, append([]string{"disk", "create", "--size", "4M", "--from", src, out}, extra...)...)
		return stderr, code
	}
	for _, c := range []struct {
		name, out string
		force     bool
		want      string
	}{
		{"the --from folder", src, true, "the --from folder itself"},
		{"a link to the --from folder", filepath.Join(root, "src-link"), true, "symbolic link"},
		{"a folder holding the --from folder", root, true, "holding the --from folder"},
		{"a non-empty folder", filepath.Join(root, "other"), true, "is a directory"},
		{"a symlink to a file", filepath.Join(root, "file-link"), true, "symbolic link"},
		{"a symlink to a folder", filepath.Join(root, "dir-link"), true, "symbolic link"},
		{"an input without --force", filepath.Join(src, "hello.txt"), false, "use --force"},
		{"an existing file without --force", filepath.Join(root, "existing.img"), false, "use --force"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := treeState(t, root)
			var extra []string
			if c.force {
				extra = append(extra, "--force")
			}
			stderr, code := create(c.out, extra...)
			wantRefusal(t, stderr, code, c.want)
			unchanged(t, root, before)
		})
	}

	// A failure (too small) with --force: the existing file stays, no
	// partial image under its name, no temporary file.
	before := treeState(t, root)
	_, stderr, code := runJuice(t, "disk", "create", "--size", "1M", "--from", filepath.Join(root, "big"), "--force", filepath.Join(root, "existing.img"))
	wantRefusal(t, stderr, code, "too small")
	unchanged(t, root, before)

	// The image of a copy of src made elsewhere...
	elsewhere := t.TempDir()
	mkfiles(t, elsewhere, map[string]string{
		"src/hello.txt":      "hello\n",
		"src/sub/data.bin":   strings.Repeat("data", 1000),
		"src/link":           "@hello.txt",
		"src/sub/.keep.tmp-": "not a temporary file of the image\n",
	})
	want := filepath.Join(elsewhere, "want.img")
	if _, stderr, code := runJuice(t, "disk", "create", "--size", "4M", "--from", filepath.Join(elsewhere, "src"), want); code != 0 {
		t.Fatalf("disk create: %d %s", code, stderr)
	}
	// ...is the image made inside src, and made again over it (--force),
	// and what an interrupted run left beside it is left out too.
	mkfiles(t, root, map[string]string{"src/sub/.in.img.tmp-123": "left by an interrupted run"})
	in := filepath.Join(src, "sub", "in.img")
	for run := range 2 {
		before := treeState(t, root)
		var extra []string
		if run > 0 {
			extra = append(extra, "--force")
		}
		if stderr, code := create(in, extra...); code != 0 {
			t.Fatalf("run %d: status %d: %s", run+1, code, stderr)
		}
		if sha(t, in) != sha(t, want) {
			t.Fatalf("run %d: the image made inside its --from folder differs from one of the same files made elsewhere", run+1)
		}
		onlyUnder(t, root, "src/sub/in.img", before)
	}

	// --force replaces an existing regular file.
	_, stderr, code = runJuice(t, "disk", "create", "--size", "4M", "--from", filepath.Join(elsewhere, "src"), "--force", filepath.Join(root, "existing.img"))
	if code != 0 {
		t.Fatalf("--force: status %d: %s", code, stderr)
	}
	if sha(t, filepath.Join(root, "existing.img")) != sha(t, want) {
		t.Fatal("--force did not replace the file with the image")
	}
}
