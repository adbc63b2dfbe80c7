package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations is one component's schema history. FS holds one directory per
// dialect: "postgres" (the subset PostgreSQL and CockroachDB both accept),
// "sqlite", and optionally "cockroach" (CockroachDB-only DDL such as
// multi-region localities, applied after the postgres set on CockroachDB
// only). Files are named NNNN_description.sql and applied in order, each
// in its own transaction, once.
type Migrations struct {
	// Component names the owner ("acquirer", "fx", …); versions are per
	// component.
	Component string
	FS        fs.FS
	// Dir is the directory in FS that holds the dialect directories
	// ("migrations" for a //go:embed migrations); empty is FS's root.
	Dir string
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS unigate_migrations (
	component TEXT NOT NULL,
	dialect TEXT NOT NULL,
	version INT8 NOT NULL,
	name TEXT NOT NULL,
	PRIMARY KEY (component, dialect, version)
)`

// Migrate applies the component's migrations that this back end lacks.
// Replicas starting together are safe: a migration's row is inserted in
// the same transaction as its DDL, so a second replica's insert conflicts
// and it skips the file.
func (db *DB) Migrate(ctx context.Context, m Migrations) error {
	// Components starting together on a new database race to create the
	// table, and PostgreSQL refuses all but the first — once the first has
	// committed — with a unique violation (on pg_type), "type already
	// exists" or "relation already exists". The table then exists, and
	// creating it again does nothing.
	if _, err := db.db.ExecContext(ctx, migrationsTable); err != nil {
		if _, err := db.db.ExecContext(ctx, migrationsTable); err != nil {
			return fmt.Errorf("sqlstore: create migrations table: %w", err)
		}
	}
	sets := []string{"postgres"}
	switch db.dialect {
	case SQLite:
		sets = []string{"sqlite"}
	case Cockroach:
		sets = append(sets, "cockroach")
	}
	for _, set := range sets {
		if err := db.migrateSet(ctx, m, set); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) migrateSet(ctx context.Context, m Migrations, set string) error {
	dir := path.Join(m.Dir, set)
	entries, err := fs.ReadDir(m.FS, dir)
	if err != nil {
		if set == "cockroach" {
			return nil // optional
		}
		return fmt.Errorf("sqlstore: %s migrations for %s: %w", m.Component, set, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("sqlstore: migration %s/%s: name must be NNNN_description.sql", set, name)
		}
		body, err := fs.ReadFile(m.FS, path.Join(dir, name))
		if err != nil {
			return err
		}
		err = db.InTx(ctx, func(ctx context.Context, tx *Tx) error {
			var applied int
			if err := tx.QueryRowContext(ctx,
				`SELECT count(*) FROM unigate_migrations WHERE component = $1 AND dialect = $2 AND version = $3`,
				m.Component, set, version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			_, err := tx.ExecContext(ctx,
				`INSERT INTO unigate_migrations (component, dialect, version, name) VALUES ($1, $2, $3, $4)`,
				m.Component, set, version, name)
			return err
		})
		if err != nil && !IsUniqueViolation(err) {
			return fmt.Errorf("sqlstore: %s migration %s/%s: %w", m.Component, set, name, err)
		}
	}
	return nil
}

// splitStatements splits a migration file on semicolons at line ends.
// Migrations hold plain DDL: no semicolons inside literals or bodies.
func splitStatements(body string) []string {
	var out []string
	for _, s := range strings.Split(body, ";\n") {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";"); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
