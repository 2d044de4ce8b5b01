package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Check runs `e2fsck -fn` on the image and returns an error with its
// output unless the file system is clean. It never modifies the image.
func Check(ctx context.Context, image string) error {
	e2fsck, err := findTool("e2fsck")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, e2fsck, "-fn", image)
	cmd.Env = toolEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("checking %s: e2fsck -fn: %w\n%s", image, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// ReadFile returns the contents of the regular file at path (absolute,
// inside the file system) in an ext4 image, read with `debugfs -R cat`
// without mounting anything. It is meant for tests that check what a
// guest wrote.
func ReadFile(ctx context.Context, image, path string) ([]byte, error) {
	out, err := debugfsRequest(ctx, image, "cat", path)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, image, err)
	}
	return out, nil
}

// Stat returns debugfs's description of the inode at path in an ext4
// image (the output of `debugfs -R stat`): type, mode, owner, size, times.
func Stat(ctx context.Context, image, path string) (string, error) {
	out, err := debugfsRequest(ctx, image, "stat", path)
	if err != nil {
		return "", fmt.Errorf("stat %s in %s: %w", path, image, err)
	}
	return string(out), nil
}

// debugfsRequest runs one read-only debugfs command on a path and returns
// its standard output; anything debugfs reports on stderr besides its
// banner is an error.
func debugfsRequest(ctx context.Context, image, command, path string) ([]byte, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q is not absolute", path)
	}
	if strings.ContainsAny(path, "\n\x00") {
		return nil, fmt.Errorf("path %q contains a newline or NUL", path)
	}
	debugfs, err := findTool("debugfs")
	if err != nil {
		return nil, err
	}
	// debugfs's command parser takes double-quoted words, in which a
	// doubled quote stands for one.
	quoted := `"` + strings.ReplaceAll(path, `"`, `""`) + `"`
	cmd := exec.CommandContext(ctx, debugfs, "-R", command+" "+quoted, image)
	cmd.Env = toolEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("debugfs: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	if msg := debugfsErrors(stderr.String()); msg != "" {
		return nil, fmt.Errorf("debugfs: %s", msg)
	}
	return stdout.Bytes(), nil
}
