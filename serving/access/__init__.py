"""Who may call the service and how often: client keys and rate limits."""
