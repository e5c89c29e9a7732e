package main

import (
	"encoding/csv"
	"errors"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
)

// linesPerReason bounds the line numbers the report keeps per reject
// reason (the rejects file has them all).
const linesPerReason = 20

// rejectReason is one line of the report's reject reasons.
type rejectReason struct {
	Reason string  `json:"reason"`
	Rows   int64   `json:"rows"`
	Lines  []int64 `json:"lines"` // the first linesPerReason input lines
}

// readRejectReasons counts the rejects file's rows by reason, most rows
// first, with their first input line numbers. The file is the published
// one once the job finished, else its partial file (a stopped run's).
func readRejectReasons(path string) ([]rejectReason, error) {
	if path == "-" || path == "" {
		return nil, nil
	}
	f, err := os.Open(path + ".partial")
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	byReason := map[string]*rejectReason{}
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if first || len(rec) < 3 {
			continue // the header
		}
		reason := unescapeCell(rec[2])
		rr := byReason[reason]
		if rr == nil {
			rr = &rejectReason{Reason: reason, Lines: []int64{}}
			byReason[reason] = rr
		}
		rr.Rows++
		if n, err := strconv.ParseInt(unescapeCell(rec[0]), 10, 64); err == nil && len(rr.Lines) < linesPerReason {
			rr.Lines = append(rr.Lines, n)
		}
	}
	out := make([]rejectReason, 0, len(byReason))
	for _, rr := range byReason {
		out = append(out, *rr)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rows != out[j].Rows {
			return out[i].Rows > out[j].Rows
		}
		return out[i].Reason < out[j].Reason
	})
	return out, nil
}

// unescapeCell undoes the rejects file's formula escaping (a quote before
// a cell starting = + - @).
func unescapeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r\n", rune(s[1])) {
		return s[1:]
	}
	return s
}
