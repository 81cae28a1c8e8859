"""Running the service: hot reload, cache warming, the refresh child, Prometheus metrics, memory and background
threads."""
