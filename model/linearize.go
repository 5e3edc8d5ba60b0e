package model

import (
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TangentVariables lists dw (the variables under ScopeTangent) in ctx: the
// displacement of the linearized network f0(x) + J(x) dw
// (layers.Net.Linearized), in the order of TrainableVariables.
func TangentVariables(ctx *context.Context) []*context.Variable {
	var vars []*context.Variable
	prefix := context.ScopeSeparator + ScopeTangent
	for v := range ctx.IterVariables() {
		if v.Scope() == prefix || strings.HasPrefix(v.Scope(), prefix+context.ScopeSeparator) {
			vars = append(vars, v)
		}
	}
	sortVariables(vars)
	return vars
}
