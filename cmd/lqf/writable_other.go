//go:build !unix

package main

// checkWritable is not checked on systems without access(2); a directory
// that refuses files fails when the command writes.
func checkWritable(dir string) error { return nil }
