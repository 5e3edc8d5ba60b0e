package data_test

import (
	"fmt"
	"strings"

	"github.com/lqf-go/lqf/data"
)

func ExampleTaskByName() {
	task, err := data.TaskByName("fashion-5-9")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(task.Name, task.Role, task.Rank, task.Flip)
	fmt.Println(strings.Join(task.ClassNames, ", "))
	// Output:
	// fashion-5-9 target 1 true
	// Sandal, Shirt, Sneaker, Bag, Ankle boot
}

func ExampleTasks() {
	for _, task := range data.Tasks() {
		fmt.Println(task.Rank, task.Name)
	}
	// Output:
	// 0 source
	// 1 fashion-5-9
	// 2 mnist-5-9
	// 3 fashion
	// 4 mnist
	// 5 fashion-inverted
	// 6 mnist-inverted
	// 7 mnist-rot90
	// 8 fashion-rot90
}
