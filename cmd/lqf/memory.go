package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/lqf-go/lqf/influence"
)

// nonGoBytes is the memory of the process outside the Go runtime's
// accounting (OpenBLAS's thread buffers, the mapped binary and libraries).
const nonGoBytes = 256 << 20

// physicalMemory is the machine's memory in bytes (MemTotal of
// /proc/meminfo), 0 where unknown.
func physicalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 3 && fields[0] == "MemTotal:" && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// checkMemory is a usage error naming --mem when the predicted peak of
// exact attribution exceeds the budget memGiB (0: the machine's memory,
// unchecked where unknown); otherwise it sets the prediction as the Go
// runtime's memory limit.
func checkMemory(memGiB float64, m influence.Memory, what string) error {
	budget := int64(memGiB * (1 << 30))
	source := "--mem"
	if memGiB == 0 {
		budget, source = physicalMemory(), "this machine's memory"
	}
	if budget <= 0 {
		return nil
	}
	if m.Total() > budget {
		return usagef("--mem: exact attribution of %s needs about %s, over %s (%.1f GiB); lower --max-train, use --approx kfac, or raise --mem if more memory is free", what, m, source, float64(budget)/(1<<30))
	}
	// The garbage collector would otherwise let the heap grow to twice the
	// live arrays (GOGC=100) before collecting the Jacobian's per-image
	// garbage: a limit at the prediction, less what lives outside Go's
	// heap (OpenBLAS's buffers, the binary), makes it collect earlier.
	debug.SetMemoryLimit(min(budget, m.Total()) - nonGoBytes)
	return nil
}
