package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

const convertUsage = `usage: vigil-policy convert [--mode monitor|enforce] [--skip-unsupported] [-o PATH] FILE...

Converts Tetragon TracingPolicy files into Vigil policies, written to standard
output (separated by --- when there are several) or, with -o, to PATH (one
FILE) or to PATH/NAME.yaml for each (PATH a directory). Notes on what was
ignored, or where Vigil reports more or less than Tetragon, go to standard
error; so do the reasons a file does not convert (exit code 1).

flags:
  --mode MODE          monitor or enforce, instead of the policy's policy-mode option
  --skip-unsupported   drop hooks that do not convert, with a note, instead of failing the file
  -o PATH              write to PATH instead of standard output
`

func runConvert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opt tetragon.Options
	var out string
	fs.StringVar(&opt.Mode, "mode", "", "")
	fs.BoolVar(&opt.SkipUnsupported, "skip-unsupported", false, "")
	fs.StringVar(&out, "o", "", "")
	var files []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, convertUsage)
				return 0
			}
			fmt.Fprintf(stderr, "vigil-policy convert: %v\n%s", err, convertUsage)
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		rest = rest[1:]
	}
	if opt.Mode != "" && opt.Mode != "monitor" && opt.Mode != "enforce" {
		fmt.Fprintf(stderr, "vigil-policy convert: --mode must be monitor or enforce, got %q\n", opt.Mode)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "vigil-policy convert: no FILE to convert\n%s", convertUsage)
		return 2
	}
	dir := false
	if out != "" && len(files) > 1 {
		st, err := os.Stat(out)
		if err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "vigil-policy convert: -o %s: with several files, -o names an existing directory\n", out)
			return 2
		}
		dir = true
	}
	code, written := 0, 0
	for _, f := range files {
		data, err := policy.ReadFile(f)
		if err == nil && !tetragon.IsTracingPolicy(data) {
			err = fmt.Errorf("%s: not a Tetragon TracingPolicy (apiVersion cilium.io/v1alpha1, kind TracingPolicy or TracingPolicyNamespaced)", f)
		}
		var res *tetragon.Result
		if err == nil {
			res, err = tetragon.Convert(f, data, opt)
		}
		if err == nil {
			// Only what the receiver would load is written.
			_, _, err = policy.ParseTracingPolicy(f, data, opt)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		for _, n := range res.Notes {
			fmt.Fprintln(stderr, "note: "+n)
		}
		switch {
		case out == "":
			if written > 0 {
				fmt.Fprintln(stdout, "---")
			}
			_, _ = stdout.Write(res.YAML)
		default:
			path := out
			if dir {
				path = filepath.Join(out, res.Name+".yaml")
			}
			if err := os.WriteFile(path, res.YAML, 0o644); err != nil {
				fmt.Fprintf(stderr, "vigil-policy convert: %v\n", err)
				return 1
			}
		}
		written++
	}
	return code
}
