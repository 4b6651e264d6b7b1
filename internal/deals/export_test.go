package deals

// FanOutConcurrency is fanOutConcurrency, for tests that observe the bound.
const FanOutConcurrency = fanOutConcurrency
