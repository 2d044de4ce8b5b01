package blk

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "JUICE_BLK_CRASH_CHILD"

// The flushed data: 64 KiB at sector 8 and 4 KiB at sector 1000.
var (
	crashA = pattern(40, 64<<10)
	crashB = pattern(41, 4096)
)

// crashChild runs in the re-executed test binary: it writes and flushes
// through the device, says "flushed", then keeps writing other sectors
// without flushing until it is killed.
func crashChild(t *testing.T, spec string) {
	var base, ovl string
	parts := strings.SplitN(spec, "|", 2)
	base = parts[0]
	if len(parts) == 2 {
		ovl = parts[1]
	}
	dev, err := Open(base, Options{Overlay: ovl})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	r := newRig(t, dev, all)
	if st, _, _ := r.do(TypeOut, 8, crashA, 0); st != StatusOK {
		os.Exit(3)
	}
	if st, _, _ := r.do(TypeOut, 1000, crashB, 0); st != StatusOK {
		os.Exit(3)
	}
	if st, _, _ := r.do(TypeFlush, 0, nil, 0); st != StatusOK {
		os.Exit(4)
	}
	fmt.Println("flushed")
	deadline := time.Now().Add(30 * time.Second) // in case the parent is gone
	for i := 0; time.Now().Before(deadline); i++ {
		r.do(TypeOut, 2000+uint64(i%64)*8, pattern(byte(i), 4096), 0)
	}
	os.Exit(5)
}

func TestCrashAfterFlush(t *testing.T) {
	if spec := os.Getenv(crashEnv); spec != "" {
		crashChild(t, spec)
		return
	}
	for _, withOverlay := range []bool{false, true} {
		name := "raw"
		if withOverlay {
			name = "overlay"
		}
		t.Run(name, func(t *testing.T) {
			img := pattern(42, 2<<20)
			base := tempImage(t, img)
			spec := base
			ovl := ""
			if withOverlay {
				ovl = filepath.Join(t.TempDir(), "disk.cow")
				spec += "|" + ovl
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashAfterFlush$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+spec)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 1)
			go func() {
				s := bufio.NewScanner(out)
				for s.Scan() {
					if s.Text() == "flushed" {
						lines <- s.Text()
						return
					}
					t.Log("child:", s.Text())
				}
				close(lines)
			}()
			select {
			case l, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("child exited before flushing: %v", cmd.ProcessState)
				}
				_ = l
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("child did not flush")
			}
			time.Sleep(20 * time.Millisecond) // let it write some unflushed data
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL", cmd.ProcessState)
			}

			want := append([]byte(nil), img...)
			copy(want[8*512:], crashA)
			copy(want[1000*512:], crashB)
			var got []byte
			if withOverlay {
				expectEqual(t, "base image", fileBytes(t, base), img)
				dev := mustOpen(t, base, Options{Overlay: ovl, ReadOnly: true})
				r := newRig(t, dev, all)
				_, _, got = r.do(TypeIn, 0, nil, 2<<20)
			} else {
				got = fileBytes(t, base)
			}
			// Sectors 2000+ were being written, unflushed, when the child died.
			expectEqual(t, "flushed data", got[:2000*512], want[:2000*512])
		})
	}
}
