"""Topics, event schemas, the Kafka client layer, the embedded broker and the processors."""
