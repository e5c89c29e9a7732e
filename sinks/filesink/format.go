package filesink

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Format is the encoding of an output file. The zero value is CSV.
type Format int

// Output formats.
const (
	// CSV writes an RFC 4180 file: a header row, then one record per row.
	CSV Format = iota
	// JSONL writes one JSON object per line (also known as NDJSON).
	JSONL
)

// ErrUnsupportedFormat is returned for an output name or format the sink
// cannot write, such as a compressed file.
var ErrUnsupportedFormat = errors.New("unsupported output format")

// String returns "csv" or "jsonl".
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSONL:
		return "jsonl"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the format named s: "csv", "jsonl" or "ndjson"
// (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	}
	return 0, fmt.Errorf("filesink: format %q: %w", s, ErrUnsupportedFormat)
}

// FormatFor picks the format from a file name's extension (case-insensitive):
// .csv is CSV; .jsonl and .ndjson are JSONL; "-" (stdout) is CSV.
// Compressed names (.gz, .zst, …) and any other extension return an error
// wrapping ErrUnsupportedFormat.
func FormatFor(path string) (Format, error) {
	if path == "-" {
		return CSV, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	case ".gz", ".gzip", ".zst", ".bz2", ".xz", ".zip":
		return 0, fmt.Errorf("filesink: %s: compressed output is not supported: %w", path, ErrUnsupportedFormat)
	}
	return 0, fmt.Errorf("filesink: %s: want a .csv, .jsonl or .ndjson name: %w", path, ErrUnsupportedFormat)
}
