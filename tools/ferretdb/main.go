// Command ferretdb runs FerretDB (a MongoDB wire-protocol server) with the
// SQLite or PostgreSQL backend for PhotoChanger's local stack and integration
// tests.
//
// It embeds github.com/FerretDB/FerretDB/ferretdb instead of building
// FerretDB's own cmd/ferretdb, whose binary needs version files that are
// generated only in FerretDB's release pipeline.
//
// The server listens on a TCP address (loopback by default) and stops cleanly
// on SIGTERM or SIGINT. With -handler=sqlite (the default) it keeps one SQLite
// file per database under -state-dir; with -handler=postgresql it keeps one
// schema per database in the PostgreSQL database named by -postgresql-url.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

const ferretdbModule = "github.com/FerretDB/FerretDB"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP `host:port` to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	stateDir := flag.String("state-dir", "", "`directory` for the SQLite database files (created if missing; sqlite only)")
	postgresqlURL := flag.String("postgresql-url", "", "PostgreSQL connection `URL` (postgresql only), e.g. postgres://user@127.0.0.1:5432/ferretdb")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	sqlitePragmas := flag.String("sqlite-pragmas", "synchronous(normal)", "comma-separated SQLite `pragmas` added to the defaults (busy_timeout, WAL)")
	flag.Parse()

	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level %q: %w", *logLevel, err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   logger,
		Handler:  *handler,
		// Telemetry is always disabled by the embeddable package.
	}

	var where string

	switch *handler {
	case "sqlite":
		if *postgresqlURL != "" {
			return errors.New("-postgresql-url needs -handler=postgresql")
		}

		u, dir, err := sqliteURL(*stateDir, *sqlitePragmas)
		if err != nil {
			return err
		}

		config.SQLiteURL = u
		where = dir

	case "postgresql":
		if *postgresqlURL == "" {
			return errors.New("-handler=postgresql needs -postgresql-url")
		}

		u, err := url.Parse(*postgresqlURL)
		if err != nil {
			return fmt.Errorf("invalid -postgresql-url: %w", err)
		}

		config.PostgreSQLURL = *postgresqlURL
		where = u.Redacted()

	default:
		return fmt.Errorf("invalid -handler %q: want sqlite or postgresql", *handler)
	}

	// The embeddable package reports version "unknown" (in buildInfo, for example);
	// report the module version this binary was built from instead.
	ferretdbVersion := moduleVersion(ferretdbModule)
	version.Get().Version = ferretdbVersion

	f, err := ferretdb.New(config)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("starting", "version", ferretdbVersion, "listen_addr", *listenAddr, "handler", *handler, "storage", where)

	// Run blocks until ctx is canceled, then closes the listener, connections and backend.
	if err = f.Run(ctx); err != nil {
		return err
	}

	logger.Info("stopped")

	return nil
}

// sqliteURL returns the SQLite backend URI for stateDir (created if missing)
// and the absolute directory.
func sqliteURL(stateDir, pragmas string) (string, string, error) {
	if stateDir == "" {
		return "", "", errors.New("-handler=sqlite needs -state-dir")
	}

	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return "", "", fmt.Errorf("resolve -state-dir: %w", err)
	}

	if err = os.MkdirAll(dir, 0o750); err != nil {
		return "", "", fmt.Errorf("create -state-dir: %w", err)
	}

	// The SQLite backend wants a "file:" URI naming an existing directory, with a trailing slash.
	// WAL with synchronous=NORMAL syncs at checkpoints instead of on every commit: a local
	// development and test database may lose its last transactions on a power cut, never its
	// consistency, and writes get several times faster.
	query := url.Values{}
	for _, pragma := range strings.Split(pragmas, ",") {
		if pragma = strings.TrimSpace(pragma); pragma != "" {
			query.Add("_pragma", pragma)
		}
	}

	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/", RawQuery: query.Encode()}).String()

	return u, dir, nil
}

// moduleVersion returns the version of the given dependency module of this binary.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}

	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}

			return dep.Version
		}
	}

	return "unknown"
}
