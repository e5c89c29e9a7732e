package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// configResolver resolves flags from a --config YAML file. Keys are flag
// names, in kebab-case (enrich-org) or snake_case (enrich_org); a key that
// names no flag of any command is refused (Validate), so a typo never
// silently drops a stage or sends a job to the default API URL. Precedence:
// command line, then the flag's environment variable, then the file, then
// the default.
type configResolver struct {
	values map[string]any    // by kebab-case name
	keys   map[string]string // kebab-case name -> the key as written
	getenv func(string) string
}

// configLoader returns the loader kong.Configuration calls for --config.
func configLoader(getenv func(string) string) kong.ConfigurationLoader {
	return func(r io.Reader) (kong.Resolver, error) { return yamlResolver(r, getenv) }
}

// yamlResolver reads a YAML config file.
func yamlResolver(r io.Reader, getenv func(string) string) (kong.Resolver, error) {
	var doc map[string]any
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, usagef("config: %w", err)
	}
	// JSON types (float64, string, bool, []any, map[string]any) are what
	// kong's mappers take from a resolver.
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, usagef("config: %w", err)
	}
	var values map[string]any
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&values); err != nil {
		return nil, usagef("config: %w", err)
	}
	c := &configResolver{values: map[string]any{}, keys: map[string]string{}, getenv: getenv}
	for k, v := range values {
		name := strings.ReplaceAll(k, "_", "-")
		if prev, dup := c.keys[name]; dup {
			return nil, usagef("config: keys %q and %q name the same flag --%s", prev, k, name)
		}
		c.values[name], c.keys[name] = v, k
	}
	return c, nil
}

// Validate refuses keys that name no flag, suggesting the nearest one.
func (c *configResolver) Validate(app *kong.Application) error {
	flags := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			flags[f.Name] = true
		}
		for _, child := range n.Children {
			walk(child)
		}
	}
	walk(app.Node)
	delete(flags, "help")
	delete(flags, "config")
	var unknown []string
	for name := range c.values {
		if !flags[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([]string, len(unknown))
	for i, name := range unknown {
		msgs[i] = fmt.Sprintf("unknown key %q (did you mean %s?)", c.keys[name], nearest(name, names))
	}
	return fmt.Errorf("config: %s; keys are flag names, e.g. verify, enrich-org or enrich_org", strings.Join(msgs, "; "))
}

// Resolve returns the file's value for flag, or nil: also when the flag's
// environment variable is set, which overrides the file.
func (c *configResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	v, ok := c.values[flag.Name]
	if !ok {
		return nil, nil
	}
	for _, env := range flag.Envs {
		if c.getenv(env) != "" {
			return nil, nil
		}
	}
	return v, nil
}

// nearest is the flag name closest to name (edit distance), as "--name".
func nearest(name string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		if d := editDistance(name, n); bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	return "--" + best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
