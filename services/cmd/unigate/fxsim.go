package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/unigate/unigate/services/fxsim"
)

// runFXSim runs the FX rate provider simulator (docs/fxsim.md): its
// providers' rates over gRPC (RateFeedService, with health and reflection)
// and as JSON over HTTP, until ctx ends. Every flag can also be set by an
// environment variable: --outage-every by UNIGATE_FXSIM_OUTAGE_EVERY, and
// so on; a flag on the command line wins.
func runFXSim(ctx context.Context, args []string) error {
	cfg := fxsim.DefaultConfig()
	fs := flag.NewFlagSet("fxsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7090", "gRPC listen address (plaintext)")
	httpAddr := fs.String("http", "127.0.0.1:7091", "HTTP listen address of GET /rates?provider=NAME; empty: no HTTP")
	providers := fs.String("providers", strings.Join(cfg.Providers, ","), "provider names, comma-separated")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed: the same seed gives the same walk")
	fs.DurationVar(&cfg.Tick, "tick", cfg.Tick, "how often every provider sends a batch")
	fs.Float64Var(&cfg.VolBps, "vol-bps", cfg.VolBps, "typical per-tick volatility of a pair, basis points")
	fs.Float64Var(&cfg.JumpProb, "jump-prob", cfg.JumpProb, "chance per pair and tick of a market jump")
	fs.Float64Var(&cfg.JumpMinBps, "jump-min-bps", cfg.JumpMinBps, "smallest jump, basis points")
	fs.Float64Var(&cfg.JumpMaxBps, "jump-max-bps", cfg.JumpMaxBps, "largest jump, basis points")
	fs.Float64Var(&cfg.StaleProb, "stale-prob", cfg.StaleProb, "chance per row of a stale quote (source time 30–120 s old)")
	fs.Float64Var(&cfg.CrossedProb, "crossed-prob", cfg.CrossedProb, "chance per row of a crossed quote (bid above ask)")
	fs.Float64Var(&cfg.GarbageProb, "garbage-prob", cfg.GarbageProb, "chance per row of a garbage row")
	fs.DurationVar(&cfg.OutageEvery, "outage-every", cfg.OutageEvery, "each provider goes silent about this often (0: never)")
	fs.DurationVar(&cfg.OutageFor, "outage-for", cfg.OutageFor, "for this long")
	fs.IntVar(&cfg.Digits, "digits", cfg.Digits, "significant digits of every bid and ask")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := flagsFromEnv(fs, "UNIGATE_FXSIM_"); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Providers = nil
	for _, p := range strings.Split(*providers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Providers = append(cfg.Providers, p)
		}
	}
	sim, err := fxsim.New(cfg)
	if err != nil {
		return err
	}
	return sim.Serve(ctx, fxsim.ServeConfig{GRPCAddr: *listen, HTTPAddr: *httpAddr, Log: logger("fxsim", *logLevel),
		Ready: func(grpcAddr, httpAddr string) {
			fmt.Printf("fxsim: providers %s, %d pairs, a batch every %v\n", strings.Join(cfg.Providers, ","), len(cfg.Pairs), cfg.Tick)
			fmt.Printf("  grpc  %s  unigate.simulator.v1.RateFeedService (plaintext)\n", grpcAddr)
			if httpAddr != "" {
				fmt.Printf("  http  http://%s/rates?provider=%s\n", httpAddr, cfg.Providers[0])
			}
		}})
}

// flagsFromEnv sets every flag of fs whose environment variable is set:
// prefix + the flag's name in upper case, '-' as '_'
// (UNIGATE_FXSIM_OUTAGE_EVERY for --outage-every). Call it before Parse,
// so that the command line wins.
func flagsFromEnv(fs *flag.FlagSet, prefix string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		key := prefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", key, v, e)
			}
		}
	})
	return err
}
