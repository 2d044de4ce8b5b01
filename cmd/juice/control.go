package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/api"
	"github.com/juicevm/juice/internal/vmm"
)

// newControlCmd makes a command that sends one request to the control
// API of a running juice run or juice record (--api SOCK).
func newControlCmd(use, short string, do func(cmd *cobra.Command, c *api.Client) error) *cobra.Command {
	var sock string
	cmd := &cobra.Command{
		Use:   use + " --api SOCK",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sock == "" {
				return fmt.Errorf("%s: --api SOCK is required (the socket juice run --api serves)", use)
			}
			return do(cmd, api.NewClient(sock))
		},
	}
	cmd.Flags().StringVar(&sock, "api", "", "the control API's Unix socket `SOCK`")
	return cmd
}

// printed says where a VM is, after a command.
func printed(cmd *cobra.Command, c *api.Client, what string) error {
	var info vmm.Info
	if err := c.Do(cmd.Context(), http.MethodGet, "/vm", nil, &info); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "juice: %s at instruction %d (clock %d)\n", what, info.Instructions, info.Clock)
	return nil
}

func newControlCmds() []*cobra.Command {
	state := func(state, what string) func(*cobra.Command, *api.Client) error {
		return func(cmd *cobra.Command, c *api.Client) error {
			if err := c.Do(cmd.Context(), http.MethodPatch, "/vm", api.VMState{State: state}, nil); err != nil {
				return err
			}
			return printed(cmd, c, what)
		}
	}
	status := newControlCmd("status", "Print the state of a running virtual machine as JSON", func(cmd *cobra.Command, c *api.Client) error {
		var raw map[string]any
		if err := c.Do(cmd.Context(), http.MethodGet, "/vm", nil, &raw); err != nil {
			return err
		}
		if raw == nil {
			return errors.New("status: empty reply")
		}
		return printJSON(raw)
	})
	stop := newControlCmd("stop", "Stop a running virtual machine, as Ctrl-C would", func(cmd *cobra.Command, c *api.Client) error {
		return c.Do(cmd.Context(), http.MethodPut, "/actions", api.Action{ActionType: "Stop"}, nil)
	})
	return []*cobra.Command{
		newControlCmd("pause", "Pause a running virtual machine (juice run --api SOCK)", state("Paused", "paused")),
		newControlCmd("resume", "Resume a paused virtual machine", state("Resumed", "resumed")),
		status, stop,
	}
}

// printJSON prints v as indented JSON on stdout.
func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
