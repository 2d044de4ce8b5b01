package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// HostPath is a host path a spec names: the spec key that gives it and
// the path as written.
type HostPath struct {
	Key  string
	Path string
}

// HostPaths lists every host path of the spec (kernel.config, kernel.image,
// app.go, app.binary, files[].from, disks[].from), in the order of the keys.
func (s *Spec) HostPaths() []HostPath {
	var hp []HostPath
	add := func(key, p string) {
		if p != "" {
			hp = append(hp, HostPath{key, p})
		}
	}
	for i, c := range s.Kernel.Config {
		add(fmt.Sprintf("kernel.config[%d]", i), c)
	}
	add("kernel.image", s.Kernel.Image)
	add("app.go", s.App.Go)
	add("app.binary", s.App.Binary)
	for i, f := range s.Files {
		add(fmt.Sprintf("files[%d].from", i), f.From)
	}
	for i, d := range s.Disks {
		add(fmt.Sprintf("disks[%d].from", i), d.From)
	}
	return hp
}

// Confine checks that every host path of the spec (see HostPaths) lies in
// the folder context, the build context, as a Docker build's files do: a
// path may not lead out of it, directly (an absolute path elsewhere),
// through "..", or through a symbolic link anywhere along it. Errors name
// the key and its line.
func (s *Spec) Confine(context string) error {
	for _, hp := range s.HostPaths() {
		if _, err := s.InContext(context, hp.Key, hp.Path); err != nil {
			return err
		}
	}
	return nil
}

// InContext returns the host path p, given for key, with its symbolic
// links resolved, if it lies in the folder context (see Confine); else an
// error naming key and its line. Resolved, every step stays in context: a
// link is followed only to a place inside it.
func (s *Spec) InContext(context, key, p string) (string, error) {
	ctxAbs, err := filepath.Abs(context)
	if err != nil {
		return "", fmt.Errorf("build context %s: %w", context, err)
	}
	realCtx, err := filepath.EvalSymlinks(ctxAbs)
	if err != nil {
		return "", fmt.Errorf("build context %s: %w", context, unwrapPath(err))
	}
	where := "the build context " + ctxAbs
	if ctxAbs == s.Dir {
		where += " (the spec's folder)"
	}
	const more = "juice build --context DIR allows more"
	abs := filepath.Clean(s.Resolve(p))
	rel, ok := relIn(abs, ctxAbs, realCtx)
	if !ok {
		return "", s.Errorf(key, "%s is outside %s: juice build reads only what is in it (%s)", p, where, more)
	}
	real, esc, err := resolveBeneath(realCtx, ctxAbs, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", s.Errorf(key, "%s does not exist", p)
		}
		return "", s.Errorf(key, "%s: %v", p, unwrapPath(err))
	}
	if esc != nil {
		link := esc.link
		if r, ok := relIn(link, realCtx, realCtx); ok {
			link = "./" + filepath.ToSlash(r)
		}
		return "", s.Errorf(key, "%s leads out of %s through a symbolic link (%s -> %s): juice build follows links only within it (%s)",
			p, where, link, esc.target, more)
	}
	return real, nil
}

// relIn returns p relative to the first of dirs that holds it (or is it).
func relIn(p string, dirs ...string) (string, bool) {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, p); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return rel, true
		}
	}
	return "", false
}

// escape is where a path leaves the build context: the symbolic link
// followed last, and its target.
type escape struct{ link, target string }

// maxLinks bounds the symbolic links one path may go through, as the
// kernel's ELOOP does.
const maxLinks = 40

// resolveBeneath resolves rel, a clean relative path, inside root (an
// absolute folder without symbolic links; alias is another name of it) as
// the kernel would, following symbolic links, and returns the result; or
// the link through which a step would leave root: a target outside it, or
// ".." above it.
func resolveBeneath(root, alias, rel string) (string, *escape, error) {
	split := func(p string) []string { return strings.Split(filepath.ToSlash(p), "/") }
	todo := split(rel)
	cur := root
	links := 0
	var last *escape // the link followed last
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == root {
				if last == nil {
					last = &escape{link: root, target: ".."}
				}
				return "", last, nil
			}
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		st, err := os.Lstat(next)
		if err != nil {
			return "", nil, err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			if len(todo) > 0 && !st.IsDir() {
				return "", nil, &fs.PathError{Op: "lstat", Path: next, Err: syscall.ENOTDIR}
			}
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", nil, &fs.PathError{Op: "readlink", Path: next, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", nil, err
		}
		last = &escape{link: next, target: target}
		if filepath.IsAbs(target) {
			r, ok := relIn(filepath.Clean(target), root, alias)
			if !ok {
				return "", last, nil
			}
			cur = root
			todo = append(split(r), todo...)
		} else {
			todo = append(split(target), todo...)
		}
	}
	return cur, nil, nil
}
