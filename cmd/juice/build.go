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
	var out, buildContext string
	var freshDisks bool
	cmd := &cobra.Command{
		Use:   "build SPEC.yaml [-o DIR] [--context DIR] [--fresh-disks]",
		Short: "Build an appliance folder from a spec (see docs/appliance-spec.md)",
		Long: "Build a bootable appliance from a YAML spec: the JeOS kernel (or a given Image), a\n" +
			"zstd-compressed initramfs holding Juice's init, the app, the shared libraries it needs\n" +
			"and the spec's files, and an ext4 image per disk, with a manifest of digests. The same\n" +
			"spec and inputs give bit-identical output; unchanged parts come from the cache.\n" +
			"`juice run DIR` boots the result.\n\n" +
			"The spec's host paths must lie in the build context (the spec's folder unless\n" +
			"--context names another), symbolic links followed only within it. DIR is written\n" +
			"beside and swapped in: an existing DIR is replaced only if it is empty or an earlier\n" +
			"appliance and nothing else, and never if it is or holds an input. An earlier\n" +
			"appliance's disk images are kept (their data stays) unless --fresh-disks is given.",
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
			cache, err := cacheDirFrom(cmd.Context())
			if err != nil {
				return err
			}
			res, err := appliance.Build(cmd.Context(), s, appliance.BuildOptions{
				CacheDir:   cache,
				Logger:     logger(cmd.Context()),
				Out:        out,
				Context:    buildContext,
				FreshDisks: freshDisks,
				Progress:   progress,
				Notices:    os.Stderr, // what became of the disks: always said
			})
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
	cmd.Flags().StringVar(&buildContext, "context", "", "the build context: the `DIR` the spec's host paths must lie in (default: the spec's folder)")
	cmd.Flags().BoolVar(&freshDisks, "fresh-disks", false, "make new disk images even where DIR holds an earlier appliance's (whose data is then lost)")
	return cmd
}
