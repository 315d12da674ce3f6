"""The only way into ClickHouse: the client factory (`client`), the sink's write thread (`sink`),
the schema's migrations, what the aggregate tables hold, and the progress mark scheduled reports
wait for. It knows tables and rows, never reports or people.
"""
