// Command appliance measures the example appliances hello and http (part
// of make bench): the size of each appliance (kernel + initramfs) and its
// boot-to-app time, the wall time from starting `juice run APPLIANCE` to
// the app's first line on the console (median of -runs). Beside them, the
// same Go program in an initramfs made by u-root (fetched from the Go
// module proxy at -uroot-version) booted by Juice on the same JeOS kernel,
// in the same run.
//
// u-root's image has the app itself as /init (u-root -initcmd=APP): it is
// the smallest initramfs u-root makes for one Go program.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// example is one measured appliance.
type example struct {
	name   string // examples/NAME
	prefix string // starts the app's console lines
	server bool   // an HTTP service on guest port 80, stopped by GET /quit
}

var examples = []example{
	{name: "hello", prefix: "hello:"},
	{name: "http", prefix: "http:", server: true},
}

// warned notes the appliances whose exit status was not the app's.
var warned = map[string]bool{}

// Targets from the issue.
const (
	targetSize = 5e6                    // bytes, hello's kernel + initramfs
	targetBoot = 500 * time.Millisecond // boot-to-app
)

func main() {
	juice := flag.String("juice", "bin/juice", "the juice binary")
	runs := flag.Int("runs", 5, "boots of each appliance")
	urootVersion := flag.String("uroot-version", "v0.16.0", "u-root `VERSION` to fetch from the Go module proxy (empty: skip u-root)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/appliance: ")
	if *runs < 1 {
		*runs = 1
	}
	tmp, err := os.MkdirTemp("", "juice-appliance-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	root, err := moduleRoot()
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("== Appliances: size (kernel + initramfs) and boot-to-app (juice run to the app's first console line; %d runs, median wall time)\n", *runs)
	fmt.Printf("   targets: hello under %.0f MB in all, boot-to-app under %d ms\n", targetSize/1e6, targetBoot.Milliseconds())
	urootTool, urootErr := "", errors.New("skipped (-uroot-version is empty)")
	if *urootVersion != "" {
		urootTool, urootErr = buildUroot(tmp, *urootVersion)
	}
	for _, ex := range examples {
		dir := filepath.Join(tmp, ex.name+".appliance")
		spec := filepath.Join(root, "examples", ex.name, "juice.yaml")
		if out, err := exec.Command(*juice, "build", spec, "-o", dir).CombinedOutput(); err != nil {
			fmt.Printf("   %-6s juice build failed: %v: %s\n", ex.name, err, oneLine(out))
			continue
		}
		kernel, initrd := filepath.Join(dir, "kernel"), filepath.Join(dir, "initrd.cpio.zst")
		ks, is := size(kernel), size(initrd)
		boot, err := median(*runs, func() (time.Duration, error) {
			return bootToApp(*juice, []string{"run", dir}, ex, true)
		})
		fmt.Printf("   %-6s %-8s %6.2f MB (kernel %.2f + initramfs %.2f)  boot-to-app %s%s\n", ex.name, "juice", mb(ks+is), mb(ks), mb(is),
			seconds(boot, err), verdict(ex, ks+is, boot, err))

		if urootErr != nil {
			fmt.Printf("   %-6s u-root: build failed: %v\n", ex.name, urootErr)
			continue
		}
		cpio, err := urootInitramfs(urootTool, tmp, filepath.Join(root, "examples", ex.name))
		if err != nil {
			fmt.Printf("   %-6s u-root: build failed: %v\n", ex.name, err)
			continue
		}
		us := size(cpio)
		boot, err = median(*runs, func() (time.Duration, error) {
			return bootToApp(*juice, []string{"run", "--kernel", kernel, "--initrd", cpio, "--append", "console=ttyS0 quiet"}, ex, false)
		})
		fmt.Printf("   %-6s %-8s %6.2f MB (kernel %.2f + initramfs %.2f)  boot-to-app %s  (same kernel; the app is u-root's /init)\n",
			ex.name, "u-root", mb(ks+us), mb(ks), mb(us), seconds(boot, err))
	}
}

func verdict(ex example, bytes int64, boot time.Duration, err error) string {
	if err != nil {
		return ""
	}
	var v []string
	if ex.name == "hello" {
		v = append(v, fmt.Sprintf("size %s", okIf(float64(bytes) < targetSize)))
	}
	v = append(v, fmt.Sprintf("boot %s", okIf(boot < targetBoot)))
	return "  [" + strings.Join(v, ", ") + "]"
}

func okIf(ok bool) string {
	if ok {
		return "meets the target"
	}
	return "misses the target"
}

func seconds(d time.Duration, err error) string {
	if err != nil {
		return "failed: " + err.Error()
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func oneLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// median runs f n times and returns the median duration; the first error
// ends it.
func median(n int, f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range n {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[(len(ds)-1)/2], nil
}

// bootToApp starts juice with args and times the app's first console
// line. An HTTP service is reached through a forwarded port and stopped
// with GET /quit when managed (our appliance), or killed (u-root's image,
// which has no network set up). hello must exit 3 under our appliance.
func bootToApp(juice string, args []string, ex example, managed bool) (time.Duration, error) {
	port := 0
	if ex.server && managed {
		var err error
		if port, err = freePort(); err != nil {
			return 0, err
		}
		args = append(args, "--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, juice, args...)
	stdin, err := cmd.StdinPipe() // open console input: an idle guest waits for real time
	if err != nil {
		return 0, err
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var transcript strings.Builder
	var first time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		transcript.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), ex.prefix) {
			first = time.Since(start)
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if first == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("no %q line from %s (%s): %s", ex.prefix, ex.name, strings.TrimSpace(stderr.String()), lastLines(transcript.String(), 3))
	}
	if !managed {
		cmd.Process.Kill()
		cmd.Wait()
		return first, nil
	}
	if ex.server {
		if err := quit(port); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return 0, err
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return 0, err
	}
	if want := map[bool]int{false: 3, true: 0}[ex.server]; code != want && !warned[ex.name] {
		warned[ex.name] = true
		log.Printf("juice run %s: exit status %d, want %d (timed all the same)", ex.name, code, want)
	}
	return first, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quit stops the http example with GET /quit, retrying while the forward
// is not yet answered.
func quit(port int) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var last error
	for range 40 {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/quit", port))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("GET /quit: %v", last)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run it inside the Juice source tree")
	}
	return filepath.Dir(gomod), nil
}

// urootEnv is the environment of the u-root tool's go commands: no
// -mod=mod from the Makefile.
func urootEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{"GOFLAGS="}, extra...)...)
}

// buildUroot installs the u-root tool at version from the Go module
// proxy into dir and returns its path.
func buildUroot(dir, version string) (string, error) {
	bin := filepath.Join(dir, "gobin")
	cmd := exec.Command("go", "install", "github.com/u-root/u-root@"+version)
	cmd.Env = urootEnv("GOBIN="+bin, "GOOS=", "GOARCH=", "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install github.com/u-root/u-root@%s: %v: %s", version, err, oneLine(out))
	}
	return filepath.Join(bin, "u-root"), nil
}

// urootInitramfs makes, with u-root, an initramfs whose /init is the Go
// program in src (a main package using only the standard library), and
// returns its path, zstd-compressed as the appliance's initramfs is.
func urootInitramfs(tool, tmp, src string) (string, error) {
	name := filepath.Base(src)
	mod := filepath.Join(tmp, "uroot-"+name, name)
	if err := os.MkdirAll(mod, 0o755); err != nil {
		return "", err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(mod, e.Name()), b, 0o644); err != nil {
				return "", err
			}
		}
	}
	gomod := fmt.Sprintf("module juice.example/%s\n\ngo 1.26\n", name)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	// u-root (gobusybox) builds commands through a Go workspace.
	work := filepath.Join(filepath.Dir(mod), "go.work")
	if err := os.WriteFile(work, []byte("go 1.26\n\nuse ./"+name+"\n"), 0o644); err != nil {
		return "", err
	}
	cpio := filepath.Join(tmp, "uroot-"+name+".cpio")
	cmd := exec.Command(tool, "-o", cpio, "-initcmd="+name, "-uinitcmd=", "-defaultsh=", "./"+name)
	cmd.Dir = filepath.Dir(mod)
	cmd.Env = urootEnv("GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0", "GOWORK="+work)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("u-root: %v: %s", err, oneLine(out))
	}
	raw, err := os.ReadFile(cpio)
	if err != nil {
		return "", err
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return "", err
	}
	defer zw.Close()
	if err := os.WriteFile(cpio+".zst", zw.EncodeAll(raw, nil), 0o644); err != nil {
		return "", err
	}
	return cpio + ".zst", nil
}
