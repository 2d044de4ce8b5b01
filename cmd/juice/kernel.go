package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/kernel"
)

func newKernelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kernel",
		Short: "Build and manage guest kernels",
	}
	var fragments []string
	build := &cobra.Command{
		Use:   "build",
		Short: "Build the JeOS guest kernel from Debian's linux-source (cached)",
		Long: "Build the project's small guest kernel from Debian's linux-source-6.1 with Debian's\n" +
			"riscv64 cross-compiler and the JeOS config fragment, plus any --config fragments.\n" +
			"The result is cached by the hash of its inputs. The last line printed is the Image path.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := cacheDirFrom(cmd.Context())
			if err != nil {
				return err
			}
			path, err := kernel.Build(cmd.Context(), kernel.BuildOptions{
				CacheDir:     cache,
				Logger:       logger(cmd.Context()),
				Fragments:    fragments,
				Progress:     os.Stderr,
				ShowProgress: term.IsTerminal(int(os.Stderr.Fd())),
			})
			if err != nil {
				return err
			}
			fmt.Println(path)
			return nil
		},
	}
	build.Flags().StringArrayVar(&fragments, "config", nil, "extra kernel config `FRAGMENT` file (repeatable)")
	cmd.AddCommand(build)
	return cmd
}

// newDefaultApplianceCmd prints the paths of the default appliance's kernel
// and initramfs, building them if needed (used by scripts/bench.sh).
func newDefaultApplianceCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "default-appliance",
		Short:  "Build the default appliance and print its kernel and initramfs paths",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := cacheDirFrom(cmd.Context())
			if err != nil {
				return err
			}
			d, err := appliance.BuildDefault(cmd.Context(), appliance.Options{
				CacheDir: cache,
				Logger:   logger(cmd.Context()),
				Kernel:   kernel.BuildOptions{Progress: os.Stderr, ShowProgress: term.IsTerminal(int(os.Stderr.Fd()))},
			})
			if err != nil {
				return err
			}
			fmt.Println(d.KernelPath)
			fmt.Println(d.InitrdPath)
			return nil
		},
	}
}
