package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/appliance/spec"
)

func newBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build SPEC.yaml [-o DIR]",
		Short: "Build an appliance folder from a spec (see docs/appliance-spec.md)",
		Long: "Build a bootable appliance from a YAML spec: the JeOS kernel (or a given Image), a\n" +
			"gzip-compressed initramfs holding Juice's init, the app, the shared libraries it needs\n" +
			"and the spec's files, and an ext4 image per disk, with a manifest of digests. The same\n" +
			"spec and inputs give bit-identical output; unchanged parts come from the cache.\n" +
			"`juice run DIR` boots the result.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := spec.Load(args[0])
			if err != nil {
				return err
			}
			var progress io.Writer
			if term.IsTerminal(int(os.Stderr.Fd())) { // progress on a terminal only
				progress = os.Stderr
			}
			res, err := appliance.Build(cmd.Context(), s, appliance.BuildOptions{Out: out, Progress: progress})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s\n", res.Dir)
			fmt.Fprint(w, appliance.FormatSizes(res.Manifest.Sizes))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the appliance to `DIR` (default ./NAME.appliance)")
	return cmd
}
