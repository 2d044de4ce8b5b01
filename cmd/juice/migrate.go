package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/api"
	"github.com/juicevm/juice/internal/vmm"
)

func newMigrateCmd() *cobra.Command {
	var sock, to, token string
	var downtime, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "migrate --api SOCK --to ADDR --token T",
		Short: "Move a running virtual machine to another Juice while it runs",
		Long: "Move the virtual machine that juice run, record, restore or receive serves on\n" +
			"--api SOCK to the juice receive listening at ADDR (HOST:PORT or unix:PATH), by\n" +
			"pre-copy: memory is sent while the guest runs, then the pages it wrote meanwhile,\n" +
			"until what is left fits --downtime; then the guest pauses, the rest and the device\n" +
			"state are sent, and it resumes there. The source then exits 0.\n\n" +
			"A guest that writes memory faster than the link carries it does not converge: after\n" +
			"--timeout the migration gives up and the VM runs on where it was. If the connection\n" +
			"drops or the destination refuses at any point, the VM runs on where it was.\n\n" +
			"Disks on shared storage (the same file at the same path on both sides) are reopened\n" +
			"there; a writable disk that is not is sent along, into the file juice receive\n" +
			"--disk NAME=PATH names.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case sock == "":
				return errors.New("migrate: --api SOCK is required (the socket juice run --api serves)")
			case to == "":
				return errors.New("migrate: --to ADDR is required (where juice receive listens)")
			case token == "":
				return errors.New("migrate: --token T is required (the token juice receive printed)")
			}
			body := api.Migrate{Destination: to, Token: token, DowntimeMS: float64(downtime) / float64(time.Millisecond), TimeoutMS: float64(timeout) / float64(time.Millisecond)}
			done := progress(cmd.Context(), "migrating to "+to)
			var m vmm.Migrated
			err := api.NewClient(sock).Do(cmd.Context(), http.MethodPut, "/migrate", body, &m)
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "juice: migrated to %s in %v (downtime %v, %d bytes sent, %d rounds)\n",
				m.To, m.Total.Round(time.Microsecond), m.Downtime.Round(time.Microsecond), m.Bytes, m.Rounds)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sock, "api", "", "the control API's Unix socket `SOCK`")
	fl.StringVar(&to, "to", "", "the destination `ADDR`: HOST:PORT or unix:PATH")
	fl.StringVar(&token, "token", "", "the destination's token `T`")
	fl.DurationVar(&downtime, "downtime", 300*time.Millisecond, "the budget for the paused stretch")
	fl.DurationVar(&timeout, "timeout", time.Minute, "give up when pre-copy has not converged by then")
	return cmd
}

// progress shows, on a terminal, that long work goes on; done ends it.
func progress(ctx context.Context, what string) (done func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(os.Stderr, "\rjuice: %s… %v", what, time.Since(start).Round(time.Second))
			case <-stop:
				if time.Since(start) >= time.Second {
					fmt.Fprint(os.Stderr, "\r\033[K")
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(stop); <-finished }
}

func newReceiveCmd() *cobra.Command {
	var f restoreFlags
	var listen, token string
	cmd := &cobra.Command{
		Use:   "receive --listen ADDR [--token T] [--api SOCK] [--net ...] [--vsock ...] [--disk NAME=PATH]",
		Short: "Wait for a virtual machine to migrate here, then run it",
		Long: "Listen on ADDR (HOST:PORT or unix:PATH) for one live migration (juice migrate) and\n" +
			"run the virtual machine it brings, with its console on this terminal, as juice run.\n" +
			"Without --token, a token is made and printed: the source must present it. A source\n" +
			"with a wrong token, or a VM this host cannot honour (a disk it cannot reach), is\n" +
			"refused before the VM pauses, and juice receive waits on.\n\n" +
			"The network and vsock are made anew (--net and --vsock replace them). A disk on\n" +
			"shared storage is reopened by its path (or --disk NAME=PATH); a writable disk that\n" +
			"is not is received into the new file --disk NAME=PATH names.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listen == "" {
				return errors.New("receive: --listen ADDR is required (HOST:PORT or unix:PATH)")
			}
			if token == "" {
				b := make([]byte, 16)
				rand.Read(b)
				token = hex.EncodeToString(b)
			}
			ln, err := vmm.Listen(listen)
			if err != nil {
				return fmt.Errorf("receive: %w", err)
			}
			defer ln.Close()
			fmt.Fprintf(os.Stderr, "juice: waiting for a migration on %s, token %s\n", ln.Addr(), token)
			ctx := cmd.Context()
			return f.run(ctx, func(o vmm.RestoreOptions) (*vmm.VM, error) {
				vm, err := vmm.Receive(ctx, ln, vmm.ReceiveOptions{RestoreOptions: o, Token: token})
				ln.Close()
				if err == nil {
					fmt.Fprintf(os.Stderr, "juice: a VM migrated here at instruction %d; it runs\n", vm.Info().Instructions)
				}
				return vm, err
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "", "listen on `ADDR`: HOST:PORT or unix:PATH")
	cmd.Flags().StringVar(&token, "token", "", "the token `T` a source must present (default: a new one, printed)")
	return cmd
}
