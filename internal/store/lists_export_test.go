package store

// OpenTasksQuery exposes the SQL of OpenTasks to the tests that EXPLAIN it.
var OpenTasksQuery = openTasksQuery
