"""Ad-hoc SQL on the warehouse, read-only: the guard every user's statement passes (`guard`), the
engine that runs it with its limits (`engine`), ClickHouse's errors (`errors`) and `cdrflow sql`
(`client`). The HTTP door to it is consumers.web.sql_port. It never writes, and never reads what
the guard refuses.
"""
