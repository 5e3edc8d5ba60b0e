//go:build unix

package main

import "syscall"

// checkWritable checks that the directory dir accepts new files, with
// access(2): permissions for this user and a read-only file system
// (EROFS) are caught, and nothing is created.
func checkWritable(dir string) error {
	const wOK, xOK = 2, 1 // W_OK | X_OK: create entries, reach them
	return syscall.Access(dir, wOK|xOK)
}
