package machine

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestExpandIfCompressed(t *testing.T) {
	plain := bytes.Repeat([]byte("juice "), 1000)
	if got, err := expandIfCompressed("initrd", plain, 1<<20); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("plain bytes changed: %v", err)
	}
	if got, err := expandIfCompressed("initrd", gz(t, plain), 1<<20); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("gzip: %v", err)
	}
	zw, _ := zstd.NewWriter(nil)
	if got, err := expandIfCompressed("initrd", zw.EncodeAll(plain, nil), 1<<20); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("zstd: %v", err)
	}
	if _, err := expandIfCompressed("kernel", zw.EncodeAll(make([]byte, 3<<20), nil), 2<<20); err == nil || !strings.Contains(err.Error(), "kernel: ") {
		t.Fatalf("a zstd kernel larger than RAM: %v", err)
	}
	// Expanding beyond RAM, or a damaged stream, is an error naming the input.
	if _, err := expandIfCompressed("kernel", gz(t, make([]byte, 3<<20)), 2<<20); err == nil || !strings.Contains(err.Error(), "kernel: expands to more than") {
		t.Fatalf("a kernel larger than RAM: %v", err)
	}
	bad := gz(t, plain)
	bad[len(bad)/2] ^= 0xff
	if _, err := expandIfCompressed("initrd", bad, 1<<20); err == nil || !strings.Contains(err.Error(), "initrd: gzip") {
		t.Fatalf("a damaged initrd: %v", err)
	}
}
