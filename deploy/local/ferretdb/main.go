// Command vestnik-ferretdb runs a local FerretDB v1.24.2 (MongoDB wire protocol
// on top of PostgreSQL) for Vestnik development and CI, where there is no Docker.
//
// Why a wrapper: `go install .../cmd/ferretdb@v1.24.2` panics at start, because
// cmd/ferretdb requires build/version/version.txt, which is generated from git
// and not shipped in the module zip. The embeddable `ferretdb` package skips
// that file whenever the main module is not FerretDB itself (see the init func
// in build/version), so embedding it needs no version workaround at all.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	postgresqlURL := flag.String("postgresql-url", "", "PostgreSQL URL, e.g. postgres://user@127.0.0.1:5433/ferretdb (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if *postgresqlURL == "" || level.UnmarshalText([]byte(*logLevel)) != nil {
		flag.Usage()
		os.Exit(2)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		// One schema per database, one table with a jsonb column per collection. The
		// cluster's own settings (deploy/local/postgres/vestnik.conf) skip the fsync per
		// commit; production is MongoDB.
		Handler:       "postgresql",
		PostgreSQLURL: *postgresqlURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Run returns once ctx is canceled, after closing the listener, all client
	// connections and the PostgreSQL backend, so SIGINT/SIGTERM give a clean stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err = f.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
