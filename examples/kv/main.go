// Command kv is the key-value service example appliance. Its data lives
// in one file on a virtio disk (the appliance's disk "data", mounted at
// /data), so it outlives the VM: stop the appliance, run it again, and the
// keys are there. It counts its boots in the same file.
//
//	GET    /         every key, one "key=value" a line
//	GET    /KEY      the value (404 if there is none)
//	PUT    /KEY      stores the request body as the value
//	DELETE /KEY      removes the key
//	GET    /quit     "bye", then the service exits 0 and the VM powers off
//
// Every change is on the disk (written to a new file, fsynced, renamed
// over the old one) before the response is sent.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// store is the data file's contents.
type store struct {
	Boots int               `json:"boots"`
	Keys  map[string]string `json:"keys"`
}

type server struct {
	mu   sync.Mutex
	path string
	data store
}

func (s *server) load() error {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.data = store{Keys: map[string]string{}}
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if s.data.Keys == nil {
		s.data.Keys = map[string]string{}
	}
	return nil
}

// save writes the data durably: a new file, fsynced, renamed over the old
// one, and the folder fsynced.
func (s *server) save() error {
	b, err := json.MarshalIndent(s.data, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(s.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Path[1:]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case key == "" && r.Method == http.MethodGet:
		keys := make([]string, 0, len(s.data.Keys))
		for k := range s.data.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%s\n", k, s.data.Keys[k])
		}
	case key == "":
		http.Error(w, "no key", http.StatusBadRequest)
	case r.Method == http.MethodGet:
		v, ok := s.data.Keys[key]
		if !ok {
			http.Error(w, "no such key", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, v)
	case r.Method == http.MethodPut:
		v, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.data.Keys[key] = string(v)
		if err := s.save(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		log.Printf("set %s", key)
		fmt.Fprintln(w, "ok")
	case r.Method == http.MethodDelete:
		delete(s.data.Keys, key)
		if err := s.save(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	default:
		http.Error(w, "use GET, PUT or DELETE", http.StatusMethodNotAllowed)
	}
}

func main() {
	addr := flag.String("addr", ":80", "listen on `ADDR`")
	dir := flag.String("dir", "/data", "keep the data in `DIR`")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kv: ")

	s := &server{path: filepath.Join(*dir, "kv.json")}
	if err := s.load(); err != nil {
		log.Fatal(err)
	}
	s.data.Boots++
	if err := s.save(); err != nil {
		log.Fatal(err)
	}
	log.Printf("boot %d, %d keys in %s", s.data.Boots, len(s.data.Keys), s.path)

	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		select {
		case <-quit:
		default:
			close(quit)
		}
	})
	mux.Handle("/", s)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", l.Addr())
	srv := &http.Server{Handler: mux}
	go func() {
		<-quit
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	log.Print("stopped")
}
