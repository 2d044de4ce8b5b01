package replay

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func sampleCheckpoints(t testing.TB, path string, sum [32]byte) []CheckpointRecord {
	recs := []CheckpointRecord{
		{Instructions: 10, Clock: 12, Script: 1, State: []byte("state one"), Disks: [][]byte{[]byte("disk")},
			Pages: []CheckpointPage{{Index: 3, Data: bytes.Repeat([]byte{1}, 4096)}}},
		{Instructions: 20, Clock: 24, Script: 2, State: []byte("state two"), Disks: [][]byte{[]byte("disk2")}},
	}
	w, err := CreateCheckpoints(path, sum)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func readCheckpoints(path string, sum [32]byte) ([]CheckpointRecord, error) {
	r, err := OpenCheckpoints(path, sum)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []CheckpointRecord
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestCheckpointFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.jrr.ckpt")
	sum := [32]byte{1, 2, 3}
	recs := sampleCheckpoints(t, path, sum)
	got, err := readCheckpoints(path, sum)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := OpenCheckpoints(path, [32]byte{9}); !errors.Is(err, ErrStale) {
		t.Fatalf("another recording's file: %v", err)
	}
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 1
	os.WriteFile(path, b, 0o644)
	got, err = readCheckpoints(path, sum)
	if !errors.Is(err, ErrCorrupt) || len(got) != 1 {
		t.Fatalf("damaged last record: %d records, %v", len(got), err)
	}
	os.WriteFile(path, b[:len(b)-10], 0o644)
	if _, err = readCheckpoints(path, sum); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzCheckpointFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.ckpt")
	sampleCheckpoints(f, path, [32]byte{})
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.ckpt")
		os.WriteFile(p, b, 0o644)
		readCheckpoints(p, [32]byte{}) // any error, no panic
	})
}
