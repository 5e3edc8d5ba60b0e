// Command lqf fine-tunes pretrained backbones on target tasks and answers
// attribution questions about them: Linear Quadratic Fine-Tuning from the
// command line. Run `lqf help` for the subcommands.
//
// The command holds none of the paper's equations itself; it runs the
// packages that do: pretrain (Sec. 3.3, Appendix A.2), finetune (the
// methods of Sec. 4.1 on eq. 1, 3 and 4, K-FAC of Sec. 3.2), influence
// (eq. 7-8, Appendix A.3), spectrum (Fig. 3), check hypergradient
// (eq. 10-12) and reproduce (Tables 1-3, Figs. 1-8).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// usageError marks errors caused by the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// inputError marks an error in the input data (an idx file, an image
// folder) as the user's input, like a bad flag: exit status 2.
func inputError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err.Error()}
}

func main() {
	if path := os.Getenv("LQF_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lqf: LQF_CPUPROFILE: %v\n", err)
			os.Exit(2)
		}
		code := run(os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// startCPUProfile writes a CPU profile of the whole command to path (for
// `go tool pprof`), the way speed work on lqf's experiments starts.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		printUsage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "lqf %s: %s\n", c.name, oneLine(err.Error()))
			var ue usageError
			if errors.As(err, &ue) {
				return 2
			}
			return 1
		}
	}
	fmt.Fprintf(stderr, "lqf: unknown command %q; run `lqf help` for the list\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "lqf: Linear Quadratic Fine-Tuning and exact data attribution.")
	fmt.Fprintln(w, "\nUsage: lqf <command> [flags]   (lqf <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nThe pure-Go GoMLX backend is used unless GOMLX_BACKEND names another (e.g. xla:cpu).")
	fmt.Fprintln(w, "LQF_CPUPROFILE=file writes a CPU profile of the command (go tool pprof).")
}

// oneLine keeps an error on one line: GoMLX errors can carry stack traces.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// usages holds each flag set's synopsis, printed for --help.
var usages = map[*flag.FlagSet]struct {
	synopsis string
	w        io.Writer
}{}

// newFlags returns a FlagSet that reports its errors through the returned
// error instead of exiting; the full usage is printed only for --help, so a
// mistake costs one line.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lqf "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	usages[fs] = struct {
		synopsis string
		w        io.Writer
	}{synopsis, stderr}
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseFlagsAndArgs(fs, args, 0)
}

// parseFlagsAndArgs is parseFlags for a command that takes exactly want
// arguments after its flags (fs.Arg(0), ...).
func parseFlagsAndArgs(fs *flag.FlagSet, args []string, want int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			u := usages[fs]
			fmt.Fprintf(u.w, "Usage: lqf %s\n\n", u.synopsis)
			fs.SetOutput(u.w)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error() + "; run with --help for the flags"}
	}
	switch {
	case want == 0 && fs.NArg() > 0:
		return usagef("unexpected argument %q; flags start with --", fs.Arg(0))
	case fs.NArg() > want:
		return usagef("unexpected argument %q after %d; flags go before the arguments", fs.Arg(want), want)
	case fs.NArg() < want:
		u := usages[fs]
		return usagef("missing argument: usage: lqf %s", u.synopsis)
	}
	return nil
}
