package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfine checks which host paths stay in the build context: through
// "..", absolute paths and symbolic links anywhere along a path.
func TestConfine(t *testing.T) {
	root := t.TempDir()
	proj := filepath.Join(root, "proj")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{"proj/static/sub", "proj/app", "outside/dir", "shared"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"proj/app/main.go", "proj/static/a.txt", "proj/static/sub/b.txt", "outside/secret", "outside/dir/c", "shared/lib.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"proj/in-file":      "static/a.txt",             // inside
		"proj/in-dir":       "./static/sub",             // inside
		"proj/in-abs":       filepath.Join(proj, "app"), // inside, absolute
		"proj/out-file":     "../outside/secret",        // outside
		"proj/out-dir":      outside + "/dir",           // outside, absolute
		"proj/static/up":    "../../outside",            // outside, from a subfolder
		"proj/static/round": "../static/sub",            // out of static, still in proj
		"proj/chain":        "in-dir/../../out-file",    // in, then out through another link
	}
	for p, target := range links {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	spec := "name: x\napp: {go: ./app}\nfiles:\n  - {from: FROM, to: /srv}\n"
	for _, c := range []struct {
		from, context, want string // want "" means allowed
	}{
		{from: "./static"},
		{from: "./in-file"},
		{from: "./in-dir"},
		{from: "./in-abs"},
		{from: "in-dir/b.txt"},
		{from: "./static/round/b.txt"},
		{from: proj + "/static"},
		{from: "../shared/lib.txt", context: root},
		{from: "../outside/secret", want: "../outside/secret is outside the build context " + proj + " (the spec's folder)"},
		{from: outside + "/secret", want: "is outside the build context"},
		{from: "./out-file", want: "leads out of the build context " + proj + " (the spec's folder) through a symbolic link (./out-file -> ../outside/secret)"},
		{from: "./out-dir/c", want: "through a symbolic link (./out-dir -> " + outside + "/dir)"},
		{from: "./static/up/secret", want: "through a symbolic link (./static/up -> ../../outside)"},
		{from: "./chain", want: "through a symbolic link (./out-file -> ../outside/secret)"},
		{from: "./out-file", context: root},
		{from: "../shared/lib.txt", context: filepath.Join(root, "shared"), want: "app.go: ./app is outside the build context " + root + "/shared:"},
	} {
		s, err := Parse([]byte(strings.Replace(spec, "FROM", c.from, 1)), filepath.Join(proj, "juice.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", c.from, err)
		}
		ctx := c.context
		if ctx == "" {
			ctx = proj
		}
		err = s.Confine(ctx)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s in %s: %v", c.from, ctx, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s in %s: %v, want %q", c.from, ctx, err, c.want)
		case c.want != "" && !strings.Contains(c.want, "app.go") && !strings.HasPrefix(err.Error(), filepath.Join(proj, "juice.yaml")+":4: files[0].from: "):
			t.Errorf("%s: %v does not name the key and its line", c.from, err)
		}
	}

	// The resolved path is what a link points to.
	s, err := Parse([]byte(strings.Replace(spec, "FROM", "./in-dir", 1)), filepath.Join(proj, "juice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := s.InContext(proj, "files[0].from", "./in-dir")
	if want, _ := filepath.EvalSymlinks(filepath.Join(proj, "static/sub")); err != nil || real != want {
		t.Errorf("InContext(./in-dir) = %q, %v; want %q", real, err, want)
	}
}
