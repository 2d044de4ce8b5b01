package pid1

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/guest/internal/netconf"

	"github.com/juicevm/juice/internal/guestconfig"
)

// Appliance-mode console lines.
const (
	// AppExitPrefix starts the line that reports how the app ended:
	// "juice: app exited with status N" or "juice: app killed by signal
	// SIGTERM".
	AppExitPrefix = "juice: app "
	// NetworkPrefix starts the line that reports eth0's configuration:
	// "juice: network eth0 10.0.2.15/24 via 10.0.2.2".
	NetworkPrefix = "juice: network "
)

// ForwardedSignals are the signals PID 1 passes on to the app.
var ForwardedSignals = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2}

// Timeouts of the appliance mode.
const (
	dhcpWait      = time.Second     // for each DHCP answer
	dhcpAttempts  = 5               // DISCOVERs before giving up
	termGrace     = 2 * time.Second // between SIGTERM and SIGKILL for leftovers
	restartReset  = 10 * time.Second
	restartMaxGap = 10 * time.Second
)

// appliance runs in appliance mode: it sets the machine up as the
// configuration says, runs the app and returns the status to power off
// with.
type appliance struct {
	in   Init
	cfg  *guestconfig.Appliance
	sup  *Supervisor
	sigs chan os.Signal
	// files are the app's stdin, stdout and stderr.
	files []*os.File
	// disks lists the mount points mounted so far.
	disks []string
	// stopping is set once SIGTERM or SIGINT was forwarded: the app is
	// not restarted after that.
	stopping bool
	// later are closed once the app has started: closing a packet socket
	// waits for an RCU grace period.
	later []io.Closer
}

// runAppliance is the appliance mode's whole job, up to the power-off.
// It never panics.
func (in Init) runAppliance() (status int) {
	status = MaxHostStatus
	a := &appliance{in: in, sigs: make(chan os.Signal, 8), files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	defer func() {
		if r := recover(); r != nil {
			in.printf("internal error: %v\n%s", r, debug.Stack())
			status = MaxHostStatus
		}
		a.cleanUp()
	}()
	// Signals are caught from the start: an uncaught SIGTERM would end
	// PID 1, and the kernel with it.
	signal.Notify(a.sigs, ForwardedSignals...)
	in.trace("init")
	cfg, err := guestconfig.Read(in.ConfigPath)
	if err != nil {
		in.printf("appliance: %v", err)
		return MaxHostStatus
	}
	a.cfg = cfg
	in.trace("config")
	if err := a.setUp(); err != nil {
		in.printf("%v", err)
		return MaxHostStatus
	}
	a.sup = NewSupervisor()
	return a.runApp().HostStatus()
}

// setUp does everything before the app starts. Only a disk that cannot
// be mounted is fatal; the rest are warnings.
func (a *appliance) setUp() error {
	extraDevices()
	if h := a.cfg.Hostname; h != "" {
		if err := setHostname(h); err != nil {
			a.in.printf("warning: %v", err)
		}
	}
	a.in.trace("hostname")
	if err := a.network(); err != nil {
		a.in.printf("warning: network: %v", err)
	}
	a.in.trace("network")
	if err := ensureEntropy(); err != nil {
		a.in.printf("warning: entropy: %v", err)
	}
	a.in.trace("entropy")
	for _, d := range a.cfg.Disks {
		ro, err := mountDisk(d)
		if err != nil {
			return err
		}
		if ro {
			a.in.printf("%s is read-only: mounted read-only on %s", d.Device, d.Mount)
		}
		a.disks = append(a.disks, d.Mount)
	}
	a.in.trace("disks")
	return nil
}

// extraDevices adds what a program may expect in /dev beyond devtmpfs:
// /dev/fd, /dev/std{in,out,err} and a tmpfs on /dev/shm. Failures do not
// matter.
func extraDevices() {
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		os.Symlink(target, "/dev/"+name)
	}
	if os.Mkdir("/dev/shm", 0o1777) == nil {
		unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
	}
}

// setHostname sets the kernel's host name and writes /etc/hostname and,
// if there is none, /etc/hosts.
func setHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
	}
	if err := os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := os.Stat("/etc/hosts"); errors.Is(err, os.ErrNotExist) {
		hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n"
		return os.WriteFile("/etc/hosts", []byte(hosts), 0o644)
	}
	return nil
}

// network brings lo up and configures eth0 as the configuration says.
func (a *appliance) network() error {
	nl, err := netconf.OpenRtnl()
	if err != nil {
		return err
	}
	defer nl.Close()
	if lo, err := netconf.LinkByName("lo"); err == nil {
		if err := nl.LinkUp("lo", lo.Index); err != nil {
			return err
		}
	}
	mode := a.cfg.Network.Mode
	if mode == guestconfig.NetworkNone {
		return nil
	}
	const ifname = "eth0"
	link, err := netconf.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("no %s (network.mode is %s, but the machine has no network interface)", ifname, mode)
	}
	if err := nl.LinkUp(ifname, link.Index); err != nil {
		return err
	}
	var cfg netconf.Static
	if mode == guestconfig.NetworkStatic {
		s, err := a.cfg.Network.Static()
		if err != nil {
			return err
		}
		cfg = netconf.Static{Address: s.Address, Gateway: s.Gateway, DNS: s.DNS}
	} else {
		a.in.trace("linkup")
		netconf.WaitCarrier(ifname, time.Second)
		a.in.trace("carrier")
		if len(link.MAC) != 6 {
			return fmt.Errorf("%s has no Ethernet address", ifname)
		}
		conn, err := netconf.OpenPacketConn(link.Index)
		if err != nil {
			return err
		}
		a.later = append(a.later, conn)
		lease, err := netconf.NewClient(conn, link.MAC, dhcpWait, dhcpAttempts).Acquire(context.Background())
		if err != nil {
			return err
		}
		cfg = lease.Static()
		a.in.trace("dhcp")
	}
	if err := nl.Apply(link.Index, cfg); err != nil {
		return err
	}
	if err := netconf.WriteResolvConf("/etc/resolv.conf", cfg.DNS); err != nil {
		return err
	}
	line := fmt.Sprintf("%s%s %s", NetworkPrefix, ifname, cfg.Address)
	if cfg.Gateway.IsValid() {
		line += " via " + cfg.Gateway.String()
	}
	fmt.Fprintln(a.in.Out, line)
	return nil
}

// rndAddEntropy is RNDADDENTROPY, _IOW('R', 0x03, int[2]).
const rndAddEntropy = 0x40085203

// ensureEntropy makes sure getrandom(2) will not block: normally the
// kernel's pool is seeded from virtio-rng (hw_random) before init runs.
// If not, it credits 64 bytes from /dev/hwrng itself. It does not wait
// for the kernel to find entropy elsewhere (without virtio-rng that can
// take long); it says so instead.
func ensureEntropy() error {
	var b [1]byte
	_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	if err == nil {
		return nil
	}
	if err != unix.EAGAIN {
		return fmt.Errorf("getrandom: %w", err)
	}
	seed, err := readHWRNG(64)
	if err == nil {
		err = creditEntropy(seed)
	}
	if err != nil {
		return fmt.Errorf("the kernel's random pool is not seeded, and getrandom blocks until it is (is there a virtio-rng device?): %w", err)
	}
	if _, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK); err != nil {
		return fmt.Errorf("the kernel's random pool is not seeded after crediting 64 bytes from /dev/hwrng: %w", err)
	}
	return nil
}

// readHWRNG reads n bytes from /dev/hwrng.
func readHWRNG(n int) ([]byte, error) {
	f, err := os.Open("/dev/hwrng")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.Read(buf); err != nil {
		return nil, fmt.Errorf("reading /dev/hwrng: %w", err)
	}
	return buf, nil
}

// creditEntropy adds seed to the kernel's pool, crediting 8 bits a byte.
func creditEntropy(seed []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8+(len(seed)+3)/4*4)
	binary.NativeEndian.PutUint32(info[0:], uint32(8*len(seed)))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(seed)))
	copy(info[8:], seed)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&info[0])))
	runtime.KeepAlive(info)
	if errno != 0 {
		return fmt.Errorf("RNDADDENTROPY: %w", errno)
	}
	return nil
}

// mountDisk mounts a disk, creating the mount point. A read-only device
// is mounted read-only.
func mountDisk(d guestconfig.Disk) (readOnly bool, err error) {
	if err := os.MkdirAll(d.Mount, 0o755); err != nil {
		return false, fmt.Errorf("disk %s: %w", d.Device, err)
	}
	err = unix.Mount(d.Device, d.Mount, d.FS, 0, "")
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		if unix.Mount(d.Device, d.Mount, d.FS, unix.MS_RDONLY, "") == nil {
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("mounting %s on %s (%s): %w", d.Device, d.Mount, d.FS, err)
	}
	return false, nil
}

// appEnv is the app's environment: its own entries, then defaults for
// PATH, HOME and TERM where they are missing.
func appEnv(app guestconfig.App) []string {
	env := append([]string(nil), app.Env...)
	has := func(key string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, key+"=") {
				return true
			}
		}
		return false
	}
	home := "/"
	if app.UID == 0 {
		home = "/root"
	}
	for _, kv := range []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"TERM=" + termOr("linux"),
	} {
		if k, _, _ := strings.Cut(kv, "="); !has(k) {
			env = append(env, kv)
		}
	}
	return env
}

// StartApp starts the app with the supervisor, on the given standard
// files. When stdin is a terminal, the app leads a new session with that
// terminal as its controlling terminal, so that Ctrl-C on the console
// reaches it; otherwise it just leads a new session.
func StartApp(sup *Supervisor, app guestconfig.App, files []*os.File) (*Child, error) {
	attr := &os.ProcAttr{
		Dir:   app.Workdir,
		Env:   appEnv(app),
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setsid: true,
			// An empty Groups clears the supplementary groups (setgroups).
			Credential: &syscall.Credential{Uid: app.UID, Gid: app.GID, Groups: []uint32{}},
		},
	}
	argv := append([]string{app.Path}, app.Args...)
	if len(files) > 0 && files[0] != nil {
		if _, err := unix.IoctlGetTermios(int(files[0].Fd()), unix.TCGETS); err == nil {
			tty := *attr.Sys
			tty.Setctty, tty.Ctty = true, 0
			ttyAttr := *attr
			ttyAttr.Sys = &tty
			if c, err := sup.Start(app.Path, argv, &ttyAttr); err == nil {
				return c, nil
			}
		}
	}
	return sup.Start(app.Path, argv, attr)
}

// restartDelay is the pause before restart number n (from 1) of an app
// that keeps dying within restartReset of its start: none for the first,
// then 100 ms, doubling up to restartMaxGap.
func restartDelay(quick int) time.Duration {
	if quick <= 1 {
		return 0
	}
	d := 100 * time.Millisecond << min(quick-2, 16)
	return min(d, restartMaxGap)
}

// runApp runs the app until it exits for good and returns its last
// status. A status of 127 stands for an app that could not be started.
func (a *appliance) runApp() ExitStatus {
	quick := 0
	for n := 0; ; n++ {
		started := time.Now()
		st := a.runOnce()
		if a.cfg.OnExit != guestconfig.OnExitRestart || a.stopping {
			return st
		}
		if time.Since(started) < restartReset {
			quick++
		} else {
			quick = 0
		}
		delay := restartDelay(quick)
		if delay > 0 {
			a.in.printf("restarting the app (restart %d, in %v)", n+1, delay)
		} else {
			a.in.printf("restarting the app (restart %d)", n+1)
		}
		if !a.pause(delay) {
			return st
		}
	}
}

// runOnce starts the app, forwards signals to it while it runs, and
// returns how it ended.
func (a *appliance) runOnce() ExitStatus {
	child, err := StartApp(a.sup, a.cfg.App, a.files)
	if err != nil {
		a.in.printf("starting the app %s: %v", a.cfg.App.Path, err)
		return ExitStatus{Code: 127}
	}
	a.in.trace("started")
	for _, c := range a.later {
		go c.Close()
	}
	a.later = nil
	defer child.Process.Release()
	for {
		select {
		case st := <-child.Done:
			fmt.Fprintf(a.in.Out, "%s%s\n", AppExitPrefix, st)
			return st
		case sig := <-a.sigs:
			if sig == unix.SIGTERM || sig == unix.SIGINT {
				a.stopping = true
			}
			child.Process.Signal(sig)
		}
	}
}

// pause waits for d, or less if SIGTERM or SIGINT arrives; it reports
// whether to go on.
func (a *appliance) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case sig := <-a.sigs:
			if sig == unix.SIGTERM || sig == unix.SIGINT {
				a.stopping = true
				return false
			}
		}
	}
}

// cleanUp ends what is left before the power-off: other processes (with
// SIGTERM, then SIGKILL), the disks (unmounted after a sync).
func (a *appliance) cleanUp() {
	if os.Getpid() == 1 && !noChildren() {
		unix.Kill(-1, unix.SIGTERM)
		if !waitNoChildren(termGrace) {
			unix.Kill(-1, unix.SIGKILL)
			waitNoChildren(time.Second)
		}
	}
	if a.sup != nil {
		a.sup.Close()
	}
	unix.Sync()
	for i := len(a.disks) - 1; i >= 0; i-- {
		dir := a.disks[i]
		if err := unix.Unmount(dir, 0); err != nil {
			a.in.printf("warning: unmounting %s: %v", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	}
	unix.Sync()
}

// noChildren reports whether this process has no children at all, dead
// or alive; it reaps none.
func noChildren() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return errors.Is(err, unix.ECHILD)
}

// waitNoChildren waits until every child has been reaped, up to timeout.
// As PID 1, having no children means that no other process is left.
func waitNoChildren(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !noChildren() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// configExists reports whether the appliance configuration is there.
func configExists(path string) bool {
	_, err := os.Stat(filepath.Clean(path))
	return err == nil
}
