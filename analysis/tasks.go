package analysis

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lqf-go/lqf/data"
)

// The target tasks that the experiments name (data.Tasks): the nearest to
// the source, which every experiment runs, and a far one.
const (
	// nearTask is the unseen Fashion-MNIST classes 5-9 (rank 1).
	nearTask = "fashion-5-9"
	// farTask is MNIST rotated by 90 degrees (rank 7).
	farTask = "mnist-rot90"
)

// targetTasks returns the target tasks sorted by Rank (near to far).
func targetTasks() []data.Task {
	var out []data.Task
	for _, t := range data.Tasks() {
		if t.Role == data.Target {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Rank < out[b].Rank })
	return out
}

// loadTask returns the named task and its splits (data.Task.Load with o;
// o.Seed draws them).
func loadTask(name string, o data.SplitOptions) (data.Task, *data.Splits, error) {
	task, err := data.TaskByName(name)
	if err != nil {
		return data.Task{}, nil, err
	}
	splits, err := task.Load(o)
	if err != nil {
		return data.Task{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	return task, splits, nil
}

// taskLabel writes a task's name on two lines at its first "-" (e.g.
// "fashion\n5-9"), to fit below a group of bars.
func taskLabel(t string) string {
	if a, b, ok := strings.Cut(t, "-"); ok {
		return a + "\n" + b
	}
	return t
}
