// Package defaults is the module's one idiom for options with defaults:
// the zero value of a field means its documented default.
//
// A package that takes options (a Config or Options struct, or the
// exported fields of a client) documents each field's default beside it,
// usually as a DefaultX constant, and resolves it with Or in one place: the
// constructor's setDefaults method for options it copies (csvsource,
// sqlsink, pipeline), or where the field is read for fields a caller may
// set after construction (customeros.Client). A negative number counts as
// unset too, unless the field's comment gives a negative value its own
// meaning (sqlsink's Retries: negative means none).
//
// Options whose zero value already means something (false for a switch
// that is on by default, a delay of 0, a seed of 0) have no default to
// fill in; their package offers DefaultOptions, which returns the options
// with the documented starting values set (filesink, sandbox), for the
// caller to change.
package defaults

import "cmp"

// Or returns v when it is set, else def: v is unset when it is the zero
// value or below it (a negative number; for a string, only ""). Unlike
// cmp.Or, a negative number is unset.
func Or[T cmp.Ordered](v, def T) T {
	var zero T
	if v <= zero {
		return def
	}
	return v
}
