"""Resource metrics of versions from Prometheus: `resourcemetrics.ResourceMetricsService` (architecture §5).

Pure parts: `validation` (requests, the step grid), `promql` (the query, escaping), `usage` (joining the result
by timestamp, dates). Effects: `prometheus` (the HTTP client), `watch` (shared polling), `service` (the servicer).
"""
