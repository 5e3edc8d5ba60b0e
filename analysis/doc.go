// Package analysis runs lqf's experiments and draws their figures: F-SI
// informativeness of training samples (paper eq. 9) and data-set
// summarization, and the harness behind `lqf reproduce` that regenerates
// every table and figure of the paper on lqf's tasks, as JSON plus
// gonum/plot figures.
//
// Status: the package is being built (issue "analysis and weightdecay"); it
// has no API yet.
package analysis
