"""Pure logic of the ingest service: no Kafka, no HTTP, no Redis imports."""
