package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RequiredPackages returns the Debian packages the kernel build needs.
func RequiredPackages() []string {
	return []string{
		"gcc-riscv64-linux-gnu", "linux-source-6.1", "flex", "bison", "bc",
		"libssl-dev", "libelf-dev", "make", "xz-utils",
	}
}

// MissingPackages returns those of pkgs that dpkg does not report as
// installed.
func MissingPackages(ctx context.Context, pkgs []string) ([]string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil, fmt.Errorf("kernel build needs a Debian system with dpkg-query: %w", err)
	}
	args := append([]string{"-W", "-f=${Package} ${db:Status-Abbrev}\n"}, pkgs...)
	cmd := exec.CommandContext(ctx, "dpkg-query", args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	// dpkg-query exits 1 when some package is unknown, yet still lists the
	// others; its output is what matters.
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("running dpkg-query: %w", err)
		}
	}
	installed := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && strings.HasPrefix(f[1], "ii") {
			// Strip any ":arch" qualifier.
			name, _, _ := strings.Cut(f[0], ":")
			installed[name] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// InstallCommand returns the command line that installs pkgs.
func InstallCommand(pkgs []string) string {
	return "apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ")
}

// ensurePackages checks the build's Debian packages and, as root, installs
// the missing ones.
func (b *builder) ensurePackages(ctx context.Context) error {
	b.progress.phase("check packages")
	missing, err := MissingPackages(ctx, RequiredPackages())
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 || b.opts.NoInstall {
		return fmt.Errorf("kernel build: missing Debian packages %s; install them as root with: %s",
			strings.Join(missing, ", "), InstallCommand(missing))
	}
	b.log.Info("installing Debian packages for the kernel build", "packages", missing)
	b.progress.phase("install packages")
	logPath := filepath.Join(b.kdir, "logs", "apt.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating apt log: %w", err)
	}
	defer logf.Close()
	for _, args := range [][]string{
		{"update"},
		append([]string{"install", "-y", "--no-install-recommends"}, missing...),
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			return &BuildError{Phase: "install packages", Log: logPath, Tail: tailLines(logPath, 20),
				Err: fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)}
		}
	}
	return nil
}
