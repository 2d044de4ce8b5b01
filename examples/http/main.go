// Command http is the HTTP service example appliance. It listens on :80
// in the guest (forwarded from the host's 127.0.0.1:8080 by juice.yaml)
// and answers:
//
//	GET /      a greeting
//	GET /quit  "bye", then the service exits 0 and the VM powers off
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	addr := flag.String("addr", ":80", "listen on `ADDR`")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("http: ")

	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		fmt.Fprintf(w, "Hello from Juice: %s on %s/%s, %d CPUs\n", host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	})
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		select {
		case <-quit:
		default:
			close(quit)
		}
	})

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", l.Addr())
	srv := &http.Server{Handler: mux}
	go func() {
		<-quit
		srv.Shutdown(context.Background()) // lets the /quit response finish
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	log.Print("stopped")
}
