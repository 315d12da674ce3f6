"""What people use: the command line, the HTTP API, the report scheduler and mailer."""
