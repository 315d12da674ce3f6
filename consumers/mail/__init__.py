"""Mail: building and sending messages over SMTP, and the local mail catcher of `make demo` and
`make run`. It knows nothing of what the mail says.
"""
