package deals

import "encoding/json"

// jsonOf records a request as the inbound event's payload.
func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
