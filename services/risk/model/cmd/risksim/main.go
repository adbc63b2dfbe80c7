// Command risksim writes simulated payments (model.Simulate) as the CSV
// files train.py learns from: train.csv and test.csv in the directory
// given by -out, each with a header, the label (1 for fraud) first and
// then the features in the order of model.FeatureNames. It prints the
// share of each pattern in each file.
//
//	go run ./risk/model/cmd/risksim -out DIR
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/unigate/unigate/services/risk/model"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "risksim:", err)
		os.Exit(1)
	}
}

type split struct {
	name string
	seed int64
	rows int
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("risksim", flag.ContinueOnError)
	out := fs.String("out", ".", "directory to write train.csv and test.csv to")
	train := split{name: "train.csv"}
	test := split{name: "test.csv"}
	fs.Int64Var(&train.seed, "train-seed", model.TrainSeed, "seed of the training split")
	fs.IntVar(&train.rows, "train-rows", model.TrainRows, "payments in the training split")
	fs.Int64Var(&test.seed, "test-seed", model.TestSeed, "seed of the test split")
	fs.IntVar(&test.rows, "test-rows", model.TestRows, "payments in the test split")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if train.seed == test.seed {
		return fmt.Errorf("the training and test seeds are equal (%d): the test split would repeat the training world", train.seed)
	}
	if train.rows <= 0 || test.rows <= 0 {
		return fmt.Errorf("-train-rows and -test-rows must be positive")
	}
	for _, s := range []split{train, test} {
		if err := ctx.Err(); err != nil {
			return err
		}
		ex := model.Simulate(s.seed, s.rows)
		path := filepath.Join(*out, s.name)
		if err := writeCSV(path, ex); err != nil {
			return err
		}
		summarize(stdout, fmt.Sprintf("%s (seed %d)", path, s.seed), ex)
	}
	return nil
}

func writeCSV(path string, ex []model.Example) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "label,%s\n", strings.Join(model.FeatureNames[:], ","))
	var line []byte
	for _, e := range ex {
		line = line[:0]
		if e.Fraud {
			line = append(line, '1')
		} else {
			line = append(line, '0')
		}
		for _, v := range e.Features {
			line = append(line, ',')
			line = strconv.AppendFloat(line, v, 'g', -1, 64)
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return w.Flush()
}

func summarize(w io.Writer, title string, ex []model.Example) {
	var n [model.NumPatterns]int
	for _, e := range ex {
		n[e.Pattern]++
	}
	fmt.Fprintf(w, "%s: %d payments\n", title, len(ex))
	for p := range model.NumPatterns {
		fmt.Fprintf(w, "  %-24s %6d  %6.2f%%\n", p, n[p], 100*float64(n[p])/float64(len(ex)))
	}
}
