// Command gocheck prints the results of a fixed workload that exercises
// the Go runtime and standard library: integer and floating-point
// arithmetic, math functions, goroutines, channels, sync/atomic, maps,
// crypto/sha256 and strconv. Its output is the same on every correct
// machine, so tests compare what it prints inside a Juice guest with what it
// prints on the host.
package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

func integers() {
	var acc uint64 = 0x9e3779b97f4a7c15
	for i := int64(-50); i < 50; i++ {
		for j := int64(-7); j < 8; j++ {
			if j == 0 {
				continue
			}
			acc = acc*31 + uint64(i/j) ^ uint64(i%j)<<7
			acc ^= uint64(int32(i) * int32(j) >> 3)
			acc += uint64(uint32(i)/uint32(j)) + uint64(i<<uint(j&63))
		}
	}
	fmt.Printf("integers %#x\n", acc)
	minusOne := -len(os.Args[:1]) // not a constant, so the division happens at run time
	fmt.Println("minint/-1", math.MinInt64/int64(minusOne), int32(math.MinInt32)/int32(minusOne))
	x := new(big.Int).Exp(big.NewInt(3), big.NewInt(500), nil)
	fmt.Println("3^500 mod 1e9+7 =", new(big.Int).Mod(x, big.NewInt(1_000_000_007)))
}

// bits selects exact output of math-library results. Go may fuse a*b+c
// into one FMA on riscv64 but not on amd64, so library functions can differ
// in the last bit between architectures: by default they are printed to 12
// significant digits, which agree; with -bits they are printed exactly, for
// comparison with another riscv64 machine. Running it as gocheck-bits
// (through a link) does the same.
var bits = len(os.Args) > 1 && os.Args[1] == "-bits" || strings.HasSuffix(os.Args[0], "gocheck-bits")

func lib(v float64) string {
	if bits {
		return fmt.Sprintf("%x", math.Float64bits(v))
	}
	return strconv.FormatFloat(v, 'g', 12, 64)
}

func floats() {
	vals := []float64{0, -0.0, 1, -1, 0.1, 1.0 / 3, math.Pi, math.E, 1e-310, 1e308, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 123456.789, -2.5, 0.5, 1.5, 2.5}
	for _, v := range vals {
		fmt.Printf("%v sqrt=%x sin=%s exp=%s log=%s pow=%s fl32=%x\n", v,
			math.Float64bits(math.Sqrt(math.Abs(v))), lib(math.Sin(v)),
			lib(math.Exp(v/100)), lib(math.Log(math.Abs(v)+1)),
			lib(math.Pow(math.Abs(v)+0.5, 1.7)), math.Float32bits(float32(v)))
	}
	s := 0.0
	for i := 1; i <= 100000; i++ {
		s += 1 / float64(i) / float64(i)
	}
	fmt.Printf("basel %.15f fma %x\n", s, math.Float64bits(math.FMA(0.1, 10, -1)))
	fmt.Println("nan", math.NaN() == math.NaN(), math.IsNaN(math.Inf(1)-math.Inf(1)), int64(math.Trunc(-7.9)))
	var f32 float32 = 16777216
	fmt.Println("f32", f32+1, float32(1)/3, float32(math.Sqrt(2)))
}

func concurrency() {
	const workers, items = 8, 2000
	jobs := make(chan int)
	results := make(chan uint64, workers)
	var wg sync.WaitGroup
	var counter atomic.Int64
	var mu sync.Mutex
	shared := map[int]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sum uint64
			for j := range jobs {
				sum += uint64(j * j)
				counter.Add(1)
				mu.Lock()
				shared[j%97]++
				mu.Unlock()
			}
			results <- sum
		}()
	}
	for i := 0; i < items; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(results)
	var total uint64
	for r := range results {
		total += r
	}
	var cas atomic.Uint32
	var wg2 sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for k := 0; k < 500; k++ {
				for {
					old := cas.Load()
					if cas.CompareAndSwap(old, old+1) {
						break
					}
				}
			}
		}()
	}
	wg2.Wait()
	fmt.Println("concurrency", total, counter.Load(), len(shared), shared[0], shared[96], cas.Load())
}

func maps() {
	m := map[string]int{}
	for i := 0; i < 5000; i++ {
		m[strconv.Itoa(i*7919%10007)] += i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%d;", k, m[k])
	}
	fmt.Printf("maps %d %x\n", len(m), h.Sum(nil))
}

func hashing() {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*131 + i>>8)
	}
	fmt.Printf("sha256 %x\n", sha256.Sum256(buf))
}

func conversions() {
	for _, s := range []string{"0", "-0", "3.14159", "1e-320", "1.7976931348623157e308", "2.2250738585072011e-308",
		"0.1", "123456789012345678", "NaN", "-Inf", "9007199254740993", "4.9e-324", "1e23"} {
		f, err := strconv.ParseFloat(s, 64)
		fmt.Println("parse", s, strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(f, 'e', 20, 64), err)
	}
	for _, v := range []float64{1.0 / 3, 2.0 / 3, 1e21, 5e-324, 100} {
		fmt.Println("format", strconv.FormatFloat(v, 'f', -1, 32), strconv.FormatFloat(v, 'g', 17, 64))
	}
	n, err := strconv.ParseInt("-9223372036854775808", 10, 64)
	_, err2 := strconv.ParseInt("9223372036854775808", 10, 64)
	fmt.Println("ints", n, err, err2, strconv.FormatUint(math.MaxUint64, 36), strconv.Quote("juice\x00\u00e9"))
}

func main() {
	integers()
	floats()
	concurrency()
	maps()
	hashing()
	conversions()
	fmt.Println("gocheck done")
}
