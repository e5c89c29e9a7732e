package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
)

// comparison is how an output differs from a reference output.
type comparison struct {
	// Lost counts reference rows (by first column) missing from the
	// output; Duplicated counts output rows beyond the reference's count
	// for their first column (rows the reference lacks included).
	Lost, Duplicated int
	// Identical is true when the two files are byte for byte equal.
	Identical bool
}

// compareOutputs compares two CSV outputs as multisets of their first
// column (the header excluded) and byte for byte.
func compareOutputs(refPath, gotPath string) (comparison, error) {
	var c comparison
	ref, err := os.ReadFile(refPath)
	if err != nil {
		return c, fmt.Errorf("read reference: %w", err)
	}
	got, err := os.ReadFile(gotPath)
	if err != nil {
		return c, fmt.Errorf("read output: %w", err)
	}
	c.Identical = bytes.Equal(ref, got)
	counts := map[string]int{}
	if err := eachFirst(ref, func(k string) { counts[k]++ }); err != nil {
		return c, fmt.Errorf("reference: %w", err)
	}
	if err := eachFirst(got, func(k string) { counts[k]-- }); err != nil {
		return c, fmt.Errorf("output: %w", err)
	}
	for _, v := range counts {
		if v > 0 {
			c.Lost += v
		} else {
			c.Duplicated -= v
		}
	}
	return c, nil
}

// eachFirst calls fn with the first column of every record after the header.
func eachFirst(data []byte, fn func(string)) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("header: %w", err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		fn(rec[0])
	}
}
