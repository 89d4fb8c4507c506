"""Shared runtime for every service: settings, broker, delivery policy, telemetry, health."""
