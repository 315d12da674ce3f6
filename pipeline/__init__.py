"""The cdrflow worker: rated CDRs from Kafka to billing-accurate aggregates in ClickHouse."""
