"""Ingest: the input topic in, validated CDR batches out (and bad input to the dead-letter topic).

The bulk reader and its validation (`reader`) run in a child process of the worker (`process`),
on a core of their own. Ingest knows nothing of the state, the warehouse or the live windows: it
hands batches to the batch topic and stops there.
"""
