"""Dev and ops tools: the local stack, brokers, chaos runs, test fixtures. Knows the services."""
