// Command worker runs deal workflows and their activities. Several can run at once;
// Temporal spreads the work.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // zone data for hosts without it; recorded plans pin behaviour, not this

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/engine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config.OS, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, env config.Env, logOut io.Writer) error {
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.LoadWorker(env)
	if err != nil {
		return err
	}
	return engine.RunWorker(ctx, cfg, logger)
}
