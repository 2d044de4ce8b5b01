// Command juice runs, records and replays virtual machines on Juice's
// deterministic RISC-V engine, and builds the guest kernels and appliances
// they boot.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses of the juice command. A guest that powers off with a status
// of its own (1 to 119) passes it through.
const (
	exitOK       = 0
	exitReboot   = 120 // the guest asked for a reboot
	exitPanic    = 121 // the guest kernel panicked
	exitHalted   = 122 // the guest halted, or the instruction limit was reached
	exitDiverged = 123 // a replay did not end where its recording did
	exitError    = 125 // Juice itself failed: bad input or a VMM error
	exitCanceled = 130 // the user quit (Ctrl-A x, SIGINT)
)

// exitError carries an exit status out of a command.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	var es exitStatus
	switch {
	case err == nil:
	case errors.As(err, &es):
		os.Exit(es.code)
	default:
		fmt.Fprintf(os.Stderr, "juice: %v\n", err)
		os.Exit(exitError)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "juice",
		Short:         "Deterministic RISC-V virtual machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newRecordCmd(), newReplayCmd(), newKernelCmd(), newDiskCmd(), newDefaultApplianceCmd())
	root.AddCommand(newBuildCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newControlCmds()...)
	root.AddCommand(newSnapshotCmd(), newRestoreCmd(), newMigrateCmd(), newReceiveCmd())
	addLogLevelFlag(root)
	addCacheFlag(root)
	root.PersistentPreRunE = setUpCommand
	return root
}
