//go:build linux && !android && (amd64 || arm64)

package linalg

// OpenBLAS and LAPACKE are found at run time with dlopen (ebitengine's
// purego, no cgo): a binary built with CGO_ENABLED=0 still uses them, and
// one run where they are missing falls back to gonum.

import (
	"errors"
	"fmt"

	"github.com/ebitengine/purego"
)

// loadOpenBLAS opens OpenBLAS and resolves the CBLAS routines of
// openblasLib and, when some library exports them, the LAPACKE routines
// of lapackeLib (lib.lapacke stays nil otherwise).
func loadOpenBLAS() (*openblasLib, error) {
	h, path, err := dlopenFirst(openblasNames)
	if err != nil {
		return nil, err
	}
	lib := &openblasLib{path: path}
	if err := bind(h, path, lib.cblasSymbols()); err != nil {
		return nil, err
	}
	lk := new(lapackeLib)
	if bind(h, path, lk.symbols()) == nil {
		lib.lapacke = lk
		return lib, nil
	}
	if h, path, err := dlopenFirst(lapackeNames); err == nil && bind(h, path, lk.symbols()) == nil {
		lib.lapacke = lk
	}
	return lib, nil
}

// dlopenFirst returns the handle and name of the first library of names
// that opens.
func dlopenFirst(names []string) (uintptr, string, error) {
	var errs []error
	for _, name := range names {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err == nil {
			return h, name, nil
		}
		errs = append(errs, err)
	}
	return 0, "", errors.Join(errs...)
}

// bind resolves every symbol of syms in the library h and only then sets
// the function pointers, so a library lacking one symbol leaves all unset.
func bind(h uintptr, path string, syms []symbol) error {
	addrs := make([]uintptr, len(syms))
	for i, s := range syms {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil || addr == 0 {
			return fmt.Errorf("%s: no symbol %s", path, s.name)
		}
		addrs[i] = addr
	}
	for i, s := range syms {
		purego.RegisterFunc(s.fptr, addrs[i])
	}
	return nil
}
