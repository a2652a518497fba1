// Command vestnik-ferretdb runs a local FerretDB v1.24.2 (MongoDB wire protocol
// on top of SQLite) for Vestnik development and CI, where there is no Docker.
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
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	sqliteDir := flag.String("sqlite-dir", "", "directory for SQLite files, one per database (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if *sqliteDir == "" || level.UnmarshalText([]byte(*logLevel)) != nil {
		flag.Usage()
		os.Exit(2)
	}

	dir, err := filepath.Abs(*sqliteDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		log.Fatal(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Handler:  "sqlite",
		// The SQLite backend wants an existing directory as a "file:" URI ending with '/'.
		// synchronous(NORMAL) in WAL mode skips the fsync per commit: every write survives a
		// crash of any process, just not of the machine. Right for a development and test
		// stack (FerretDB commits each single-document write alone); production is MongoDB.
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(NORMAL)",
	})
	if err != nil {
		log.Fatal(err)
	}

	// Run returns once ctx is canceled, after closing the listener, all client
	// connections and the SQLite backend, so SIGINT/SIGTERM give a clean stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err = f.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
