package machine

import (
	"context"
	"errors"
	"io"
)

// DefaultBareLimit is the instruction limit RunBare applies when none is given.
const DefaultBareLimit = 100_000_000

// BareOptions configure RunBare.
type BareOptions struct {
	// MaxInstructions stops a program that never reports (0: DefaultBareLimit).
	MaxInstructions uint64
	// Console receives HTIF console output.
	Console io.Writer
	// CPUs is the number of harts, all started at the entry (0: 1).
	CPUs int
}

// BareResult is the outcome of a bare-metal run.
type BareResult struct {
	// Passed is true when the program wrote 1 to tohost.
	Passed bool
	// TestNum is the failing check number reported through tohost (0 if passed).
	TestNum uint64
	// Instructions is the number of instructions executed.
	Instructions uint64
}

// RunBare loads a bare-metal ELF, runs it from its entry in M-mode on a
// fresh machine and follows the HTIF tohost convention of spike and
// riscv-tests: writing 1 means pass, (n << 1) | 1 means check n failed.
func RunBare(ctx context.Context, elfData []byte, opts BareOptions) (BareResult, error) {
	limit := opts.MaxInstructions
	if limit == 0 {
		limit = DefaultBareLimit
	}
	m, err := New(Config{
		CPUs:            opts.CPUs,
		Memory:          128 << 20,
		Bare:            elfData,
		Console:         opts.Console,
		MaxInstructions: limit,
	})
	if err != nil {
		return BareResult{}, err
	}
	if m.tohost == 0 {
		return BareResult{}, errors.New("bare: the program has no tohost symbol")
	}
	e, err := m.Run(ctx)
	if err != nil {
		return BareResult{}, err
	}
	r := BareResult{Instructions: e.Instructions}
	switch e.Kind {
	case ExitPowerOff:
		r.Passed = true
	case ExitBareFail:
		if e.Code < 0 {
			return r, errors.New("bare: unsupported HTIF command in tohost")
		}
		r.TestNum = uint64(e.Code)
	case ExitLimit:
		return r, errors.New("bare: the program did not report through tohost within the instruction limit")
	default:
		return r, errors.New("bare: the program stopped without reporting through tohost (" + e.Kind.String() + ")")
	}
	return r, nil
}
