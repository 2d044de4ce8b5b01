package pid1

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Check is one named self-check.
type Check struct {
	// Name identifies the check in failure messages.
	Name string
	// Run performs the check and returns what went wrong.
	Run func() error
}

// SelfChecks returns the built-in checks. tmpDir is a directory on tmpfs
// for the file check; cpus lists the CPUs to spread goroutines over.
func SelfChecks(tmpDir string, cpus []int) []Check {
	return []Check{
		{"integer", checkInteger},
		{"float", checkFloat},
		{"sha256", checkSHA256},
		{"memory", checkMemory},
		{"smp", func() error { return checkSMP(cpus) }},
		{"time", checkTime},
		{"tmpfs", func() error { return checkTmpfs(tmpDir) }},
	}
}

// RunChecks runs checks in order and returns the failures, each prefixed by
// the check's name. A check that panics fails; RunChecks itself never
// panics.
func RunChecks(checks []Check) []error {
	var errs []error
	for _, c := range checks {
		if err := runOne(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errs
}

func runOne(c Check) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Run()
}

// The operands below come through non-inlined functions so that the
// compiler cannot fold the arithmetic at build time: the checks must run on
// the guest CPU.

//go:noinline
func u64(v uint64) uint64 { return v }

//go:noinline
func i64(v int64) int64 { return v }

//go:noinline
func f64(v float64) float64 { return v }

//go:noinline
func f32(v float32) float32 { return v }

func checkInteger() error {
	hi, lo := bits.Mul64(u64(0xdeadbeefcafebabe), u64(0x123456789abcdef1))
	if hi != 0xfd5bdeeeb2a01d8 || lo != 0xca165e3e6f4690de {
		return fmt.Errorf("128-bit product %#x:%#x", hi, lo)
	}
	q, r := bits.Div64(hi, lo, u64(0xfedcba9876543211))
	if q != 0xfe7d6c7fc36c423 || r != 0xf8c4288b7fd8b48b {
		return fmt.Errorf("128-bit quotient %#x remainder %#x", q, r)
	}
	a, b := i64(-7), i64(2)
	if a/b != -3 || a%b != -1 || uint64(a)>>60 != 15 || a>>1 != -4 {
		return fmt.Errorf("signed division/shift: %d %d %d %d", a/b, a%b, uint64(a)>>60, a>>1)
	}
	if z := i64(0); i64(math.MinInt64)/(z-1) != math.MinInt64 {
		return errors.New("MinInt64 / -1 did not wrap")
	}
	if bits.OnesCount64(u64(0xf0f0f0f0f0f0f0f0)) != 32 || bits.LeadingZeros64(u64(1)) != 63 {
		return errors.New("bit counting")
	}
	return nil
}

func checkFloat() error {
	// A fused multiply-add keeps the rounding error of 0.1*10.
	if got := math.FMA(f64(0.1), f64(10), f64(-1)); got != 5.551115123125783e-17 {
		return fmt.Errorf("FMA(0.1, 10, -1) = %g", got)
	}
	if s := math.Sqrt(f64(2)); math.Abs(s*s-2) > 4.5e-16 {
		return fmt.Errorf("sqrt(2)^2 = %.17g", s*s)
	}
	sum := 0.0
	for k := 1; k <= 20000; k++ {
		fk := float64(k)
		sum += 1 / (fk * fk)
	}
	if want := math.Pi * math.Pi / 6; math.Abs(sum-want) > 5.1e-5 {
		return fmt.Errorf("Basel sum %.12g, want about %.12g", sum, want)
	}
	if x := f32(1) / f32(3) * f32(3); x != 1 {
		return fmt.Errorf("float32 1/3*3 = %v", x)
	}
	if int64(f64(-2.5)) != -2 || uint64(f64(1<<63)) != 1<<63 {
		return errors.New("float to integer conversion")
	}
	if inf := f64(1) / f64(0); !math.IsInf(inf, 1) {
		return fmt.Errorf("1/0 = %v", inf)
	}
	if nan := math.NaN(); f64(nan) == f64(nan) {
		return errors.New("NaN compares equal to itself")
	}
	if e := math.Exp(math.Log(f64(10))); math.Abs(e-10) > 1e-14 {
		return fmt.Errorf("exp(log(10)) = %.17g", e)
	}
	return nil
}

// sha256Want is the SHA-256 of sha256Buffer's 64 KiB.
const sha256Want = "b827727403827de2883ed940f756a097ccc5d02ee3bc94121f0b9b3d456b3013"

// sha256Buffer returns 64 KiB from a linear congruential generator.
func sha256Buffer() []byte {
	buf := make([]byte, 64<<10)
	x := uint32(0x12345678)
	for i := range buf {
		x = x*1664525 + 1013904223
		buf[i] = byte(x >> 24)
	}
	return buf
}

func checkSHA256() error {
	sum := sha256.Sum256(sha256Buffer())
	if got := hex.EncodeToString(sum[:]); got != sha256Want {
		return fmt.Errorf("digest %s, want %s", got, sha256Want)
	}
	return nil
}

func checkMemory() error {
	const n, size = 64, 16 << 10
	blocks := make([][]byte, n)
	for i := range blocks {
		blocks[i] = make([]byte, size)
		for j := range blocks[i] {
			blocks[i][j] = byte(i ^ j)
		}
	}
	runtime.GC()
	for i := range blocks {
		for j := 0; j < size; j += 511 {
			if blocks[i][j] != byte(i^j) {
				return fmt.Errorf("block %d byte %d changed after GC", i, j)
			}
		}
	}
	return nil
}

// getcpu returns the CPU the calling thread runs on.
func getcpu() (int, error) {
	var cpu, node uint32
	_, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(cpu), nil
}

// checkSMP runs one goroutine pinned to each CPU. They hammer a shared
// atomic counter and a mutex-protected counter, and pass a token around a
// ring of channels so that every CPU wakes the next one many times.
func checkSMP(cpus []int) error {
	if len(cpus) == 0 {
		cpus = []int{0}
	}
	const adds, rounds = 8192, 64
	n := len(cpus)
	var atomicCount atomic.Int64
	var mu sync.Mutex
	lockedCount := 0
	ring := make([]chan int, n)
	for i := range ring {
		ring[i] = make(chan int, 1)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The thread stays locked (and is discarded when the goroutine
			// ends) so that its narrowed affinity does not leak.
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errs <- fmt.Errorf("pinning to CPU %d: %w", cpu, err)
				// Keep the ring moving so the others finish.
				for r := 0; r < rounds; r++ {
					ring[(i+1)%n] <- (<-ring[i]) + 1
				}
				return
			}
			if got, err := getcpu(); err == nil && got != cpu {
				errs <- fmt.Errorf("goroutine pinned to CPU %d runs on CPU %d", cpu, got)
			}
			for r := 0; r < rounds; r++ {
				v := <-ring[i]
				for k := 0; k < adds/rounds; k++ {
					atomicCount.Add(1)
					mu.Lock()
					lockedCount++
					mu.Unlock()
				}
				ring[(i+1)%n] <- v + 1
			}
		}()
	}
	ring[0] <- 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%d goroutines did not finish within 60s", n)
	}
	close(errs)
	for err := range errs {
		return err
	}
	if token := <-ring[0]; token != n*rounds {
		return fmt.Errorf("token passed %d times, want %d", token, n*rounds)
	}
	if got := atomicCount.Load(); got != int64(n*adds) {
		return fmt.Errorf("atomic counter %d, want %d", got, n*adds)
	}
	if lockedCount != n*adds {
		return fmt.Errorf("mutex counter %d, want %d", lockedCount, n*adds)
	}
	return nil
}

func checkTime() error {
	var t0, t1 unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &t0); err != nil {
		return fmt.Errorf("clock_gettime: %w", err)
	}
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	elapsed := time.Since(start)
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &t1); err != nil {
		return fmt.Errorf("clock_gettime: %w", err)
	}
	if elapsed < 20*time.Millisecond {
		return fmt.Errorf("a 20ms sleep took %v", elapsed)
	}
	if elapsed > 30*time.Second {
		return fmt.Errorf("a 20ms sleep took %v", elapsed)
	}
	if d := time.Duration(t1.Nano() - t0.Nano()); d < 20*time.Millisecond {
		return fmt.Errorf("CLOCK_MONOTONIC advanced %v across a 20ms sleep", d)
	}
	return nil
}

func checkTmpfs(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("%s is not tmpfs (magic %#x)", dir, st.Type)
	}
	data := bytes.Repeat([]byte("juice tmpfs check\n"), 8192)
	p := filepath.Join(dir, ".juice-selfcheck")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	return nil
}
