package main

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/contactbatch/batch/internal/netfail"
	"github.com/contactbatch/batch/pipeline"
)

// serviceError classifies an error from opening a database (or storage)
// that what names, its URL redacted: one that could not be reached, or is
// not taking connections yet, is a resumable stop with one line that says
// to rerun when it is back (nothing was paid for because of it); a URL
// that does not parse, refused credentials or an unknown database are the
// user's to fix (exit 2). It returns nil for anything else, which the
// caller reports as it did.
func serviceError(what string, err error) error {
	if cause, ok := netfail.Unreachable(err); ok {
		return &pipeline.StopError{Cause: &unreachableError{what: what, cause: cause, err: err}}
	}
	var (
		parse *pgconn.ParseConfigError
		pg    *pgconn.PgError
	)
	switch {
	case errors.As(err, &parse):
		return usagef("%s: %w", what, err)
	case errors.As(err, &pg):
		switch {
		case strings.HasPrefix(pg.Code, "57P"), pg.Code == "53300", strings.HasPrefix(pg.Code, "08"):
			// Shutting down or starting up, too many connections, a
			// connection exception: it may take connections soon.
			return &pipeline.StopError{Cause: &unreachableError{what: what, cause: pg.Message, err: err}}
		case strings.HasPrefix(pg.Code, "28"), pg.Code == "3D000":
			// Refused credentials, a database that does not exist.
			return usagef("%s: %w", what, err)
		}
	}
	return nil
}
