"""Pure workflow logic: no Kafka, HTTP, storage or SpoonOS imports."""
