package distkernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultKeyring is Debian's archive keyring (package debian-archive-keyring).
// It holds the archive signing keys of the supported releases, trixie's
// included, and the stable release keys.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// HashMismatchError reports a file whose size or SHA-256 differs from the
// signed value.
type HashMismatchError struct {
	// Name is the file checked, such as "main/binary-riscv64/Packages.xz"
	// or a package file name.
	Name string
	// Source is where the content came from (a URL or a path).
	Source string
	// Want is the signed size and hash; Got the ones measured.
	Want, Got fileSum
}

// Error implements error.
func (e *HashMismatchError) Error() string {
	if e.Want.Size != e.Got.Size {
		return fmt.Sprintf("%s from %s: %d bytes, but the signed size is %d (sha256 %s, signed %s)",
			e.Name, e.Source, e.Got.Size, e.Want.Size, short(e.Got.SHA256), short(e.Want.SHA256))
	}
	return fmt.Sprintf("%s from %s: sha256 %s, but the signed hash is %s", e.Name, e.Source, e.Got.SHA256, e.Want.SHA256)
}

// Unwrap makes errors.Is(err, ErrUnverified) true.
func (e *HashMismatchError) Unwrap() error { return ErrUnverified }

func short(h string) string { return truncate(h, 16) }

// checkSum compares measured content against a signed size and hash.
func checkSum(name, source string, want, got fileSum) error {
	if want.Size != got.Size || !strings.EqualFold(want.SHA256, got.SHA256) {
		return &HashMismatchError{Name: name, Source: source, Want: want, Got: got}
	}
	return nil
}

// sumReader measures the size and SHA-256 of everything read from r.
func sumReader(r io.Reader) (fileSum, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fileSum{}, err
	}
	return fileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// sumFile measures the size and SHA-256 of a file.
func sumFile(path string) (fileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	s, err := sumReader(f)
	if err != nil {
		return fileSum{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return s, nil
}

// verifier checks OpenPGP signatures with gpgv against fixed keyrings.
type verifier struct {
	gpgv     string
	keyrings []string
	log      *slog.Logger
}

// SignatureError reports a Release file whose signature did not verify.
type SignatureError struct {
	// Name is the file, such as "dists/trixie/InRelease".
	Name string
	// Reason says why, including gpgv's own words when it gave any.
	Reason string
}

// Error implements error.
func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature of %s: %s", e.Name, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnverified) true.
func (e *SignatureError) Unwrap() error { return ErrUnverified }

// verifyClearsigned checks a clear-signed file (an InRelease) and returns
// the signed text exactly as gpgv extracted it, so that nothing outside the
// signature can be mistaken for signed content.
func (v *verifier) verifyClearsigned(ctx context.Context, name string, data []byte) ([]byte, []string, error) {
	dir, err := os.MkdirTemp("", "juice-gpgv-")
	if err != nil {
		return nil, nil, fmt.Errorf("verifying %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "InRelease")
	out := filepath.Join(dir, "Release")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, nil, fmt.Errorf("verifying %s: %w", name, err)
	}
	signers, err := v.run(ctx, name, "--output", out, in)
	if err != nil {
		return nil, nil, err
	}
	text, err := os.ReadFile(out)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying %s: reading the text gpgv extracted: %w", name, err)
	}
	return text, signers, nil
}

// verifyDetached checks a detached signature (Release.gpg) over data.
func (v *verifier) verifyDetached(ctx context.Context, name string, data, sig []byte) ([]string, error) {
	dir, err := os.MkdirTemp("", "juice-gpgv-")
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	d := filepath.Join(dir, "Release")
	s := filepath.Join(dir, "Release.gpg")
	if err := os.WriteFile(d, data, 0o600); err != nil {
		return nil, fmt.Errorf("verifying %s: %w", name, err)
	}
	if err := os.WriteFile(s, sig, 0o600); err != nil {
		return nil, fmt.Errorf("verifying %s: %w", name, err)
	}
	return v.run(ctx, name, s, d)
}

// run calls gpgv and reads its machine-readable status. It accepts the file
// when at least one signature is good and made by a key of the keyrings,
// and none is bad; signatures by keys not in the keyrings are ignored (an
// archive signs with several keys, and an older keyring may lack the
// newest). An expired or revoked key does not count as good.
func (v *verifier) run(ctx context.Context, name string, args ...string) ([]string, error) {
	full := []string{"--status-fd", "1"}
	for _, k := range v.keyrings {
		full = append(full, "--keyring", k)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, v.gpgv, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("verifying %s: %w", name, ctx.Err())
	}
	var signers []string
	good := false
	uid := ""
	var bad []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(sc.Text(), "[GNUPG:] "))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "NEWSIG":
			good, uid = false, ""
		case "GOODSIG":
			good = true
			if len(f) > 2 {
				uid = strings.Join(f[2:], " ")
			}
		case "VALIDSIG":
			if good && len(f) > 1 {
				signers = append(signers, fmt.Sprintf("%s [%s]", uid, f[1]))
			}
		case "BADSIG":
			bad = append(bad, strings.Join(f[1:], " "))
		}
	}
	v.log.Debug("gpgv", "file", name, "signers", signers, "err", runErr)
	if len(bad) > 0 {
		return nil, &SignatureError{Name: name, Reason: "BAD signature from " + strings.Join(bad, "; ")}
	}
	if len(signers) == 0 {
		reason := "no good signature from a key in " + strings.Join(v.keyrings, ", ")
		if msg := lastLines(stderr.String(), 3); msg != "" {
			reason += ": " + msg
		} else if runErr != nil {
			reason += ": " + runErr.Error()
		}
		return nil, &SignatureError{Name: name, Reason: reason}
	}
	return signers, nil
}

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// defaultKeyrings returns Debian's archive keyring, or when it is missing
// the per-release archive keyrings in /usr/share/keyrings.
func defaultKeyrings() ([]string, error) {
	if _, err := os.Stat(DefaultKeyring); err == nil {
		return []string{DefaultKeyring}, nil
	}
	matches, err := filepath.Glob("/usr/share/keyrings/debian-archive-*.gpg")
	if err != nil {
		return nil, fmt.Errorf("listing keyrings: %w", err)
	}
	var out []string
	for _, m := range matches {
		if !strings.Contains(filepath.Base(m), "removed") {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Debian archive keyring in /usr/share/keyrings (install debian-archive-keyring): %w", ErrUnverified)
	}
	return out, nil
}

// findTool returns the path of a program, installing its Debian package
// with apt-get when it is missing, the caller is root and install is set.
func findTool(ctx context.Context, log *slog.Logger, name, pkg string, install bool) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !install || os.Geteuid() != 0 {
		return "", fmt.Errorf("%s not found; install it with: apt-get install %s", name, pkg)
	}
	log.Info("installing missing tool", "tool", name, "package", pkg)
	aptInstall := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := aptInstall()
	if err != nil {
		// The package lists may be missing or stale: refresh them once.
		if upd, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("installing %s: apt-get update: %w: %s", pkg, uerr, lastLines(string(upd), 3))
		}
		if out, err = aptInstall(); err != nil {
			return "", fmt.Errorf("installing %s: %w: %s", pkg, err, lastLines(string(out), 3))
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s still missing after installing %s: %w", name, pkg, err)
	}
	return p, nil
}
