"""Live statistics: one-minute slices of metric sums, and the live clock that moves them.

`windows` holds the slices and the clock; `delta` sums a batch into what the slices add; `topic`
reads the live topic again when a worker takes the windows over; `state` lists the deltas in the
worker's `live` table so a restart rebuilds them exactly. It adds vectors and never evaluates a
rule: alerts read the windows from above.
"""
