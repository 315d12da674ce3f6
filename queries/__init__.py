"""Report definitions: validated requests turned into parameterised ClickHouse SQL."""
