"""Ad-hoc SQL: the warehouse read-only over ClickHouse's HTTP interface, and `cdrflow sql`."""
