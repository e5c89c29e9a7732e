package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Name parts for generated addresses. None starts with a prefix the sandbox
// treats specially (bounce, invalid, unknown, valid, full, nobody, ghost,
// noemail, nophone, role names; firewalled, secure, alias, catchall,
// nonexistent domains), so the answers are the hash-driven ordinary ones.
var (
	firstNames = [...]string{"jane", "john", "maria", "omar", "li", "priya", "tom", "ana", "kofi", "eva", "raj", "mei", "paul", "sara", "ivan", "nina"}
	lastNames  = [...]string{"doe", "smith", "garcia", "khan", "chen", "patel", "brown", "silva", "mensah", "novak", "rossi", "tanaka"}
	companies  = [...]string{"acme", "globex", "initech", "hooli", "vandelay", "wonka", "stark", "wayne", "tyrell", "cyberdyne", "oscorp", "pied"}
)

// person is one generated contact.
type person struct {
	First, Last, Company, Email string
}

// personAt returns the i-th distinct contact: its address is unique per i
// and already normalized (lower case, no spaces).
func personAt(i int) person {
	f := firstNames[i%len(firstNames)]
	l := lastNames[(i/len(firstNames))%len(lastNames)]
	c := companies[i%len(companies)] + strconv.Itoa(i%97)
	return person{First: f, Last: l, Company: c, Email: fmt.Sprintf("%s.%s%d@%s.com", f, l, i, c)}
}

// contactHeader is the header of the generated contact inputs. The first
// column is unique per row, so outputs can be compared as multisets of it.
var contactHeader = []string{"id", "email", "first_name", "last_name", "company"}

func contactRow(id int, email string, p person) []string {
	return []string{"r" + strconv.Itoa(id), email, p.First, p.Last, p.Company}
}

// writeCSV writes header and n rows made by row to path.
func writeCSV(path string, header []string, n int, row func(i int) []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create input: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	for i := range n {
		if err := w.Write(row(i)); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// writeUnique writes n rows with n distinct valid addresses.
func writeUnique(path string, n int) error {
	return writeCSV(path, contactHeader, n, func(i int) []string {
		p := personAt(i)
		return contactRow(i, p.Email, p)
	})
}

// writePool writes n rows whose addresses are drawn (seeded) from a pool of
// pool distinct addresses; it returns how many distinct addresses it used.
func writePool(path string, n, pool int, seed uint64) (int, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9001))
	used := make([]bool, pool)
	distinct := 0
	err := writeCSV(path, contactHeader, n, func(i int) []string {
		k := rng.IntN(pool)
		if !used[k] {
			used[k] = true
			distinct++
		}
		p := personAt(k)
		return contactRow(i, p.Email, p)
	})
	return distinct, err
}

// dupesInput describes a generated input with duplicates and invalid rows.
type dupesInput struct {
	Rows, Unique, Duplicates, Invalid int
}

// invalidEmail returns a locally invalid address (never worth a call).
func invalidEmail(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("jane.doe%d.acme.com", i) // no @
	case 1:
		return fmt.Sprintf("jane.doe%d@@acme.com", i) // two @
	case 2:
		return fmt.Sprintf("jane doe%d@acme.com", i) // space in the local part
	default:
		return fmt.Sprintf("jane.doe%d@acme", i) // undotted domain
	}
}

// writeDupes writes n rows: invalidPct % locally invalid addresses, dupPct %
// repeats of another row's address (a third of them upper-cased, a fifth
// padded with spaces: the same address once normalized) and the rest
// distinct valid addresses, shuffled with seed.
func writeDupes(path string, n, dupPct, invalidPct int, seed uint64) (dupesInput, error) {
	d := dupesInput{Rows: n, Invalid: n * invalidPct / 100, Duplicates: n * dupPct / 100}
	d.Unique = n - d.Invalid - d.Duplicates
	rng := rand.New(rand.NewPCG(seed, 0x0dd5))
	emails := make([]string, 0, n)
	for i := range d.Unique {
		emails = append(emails, personAt(i).Email)
	}
	for j := range d.Duplicates {
		e := personAt(rng.IntN(d.Unique)).Email
		if j%3 == 0 {
			e = strings.ToUpper(e)
		}
		if j%5 == 0 {
			e = "  " + e + " "
		}
		emails = append(emails, e)
	}
	for i := range d.Invalid {
		emails = append(emails, invalidEmail(i))
	}
	rng.Shuffle(len(emails), func(i, j int) { emails[i], emails[j] = emails[j], emails[i] })
	err := writeCSV(path, contactHeader, n, func(i int) []string {
		return contactRow(i, emails[i], personAt(i))
	})
	return d, err
}

// writeResume writes n rows where the first skip rows have no address (no
// call) and the others have distinct valid addresses.
func writeResume(path string, n, skip int) error {
	return writeCSV(path, []string{"id", "email"}, n, func(i int) []string {
		if i < skip {
			return []string{"r" + strconv.Itoa(i), ""}
		}
		return []string{"r" + strconv.Itoa(i), personAt(i).Email}
	})
}
