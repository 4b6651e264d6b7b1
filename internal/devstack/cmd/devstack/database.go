package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"
)

// ensureDatabase returns the engine's database URL: DATABASE_URL when it answers, else a
// `followup` database created on the server ensure-postgres.sh found or started.
func ensureDatabase(ctx context.Context, root string, stderr io.Writer) (string, error) {
	server, err := scriptOutput(ctx, root, "ensure-postgres.sh", stderr)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	if given := os.Getenv("DATABASE_URL"); given != "" && given == server {
		return given, nil
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at %s: %w", u.Host, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT exists(SELECT 1 FROM pg_database WHERE datname = 'followup')`).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE followup`); err != nil {
			return "", fmt.Errorf("create database followup: %w", err)
		}
		fmt.Fprintln(stderr, "devstack: created database followup")
	}
	u.Path = "/followup"
	return u.String(), nil
}
