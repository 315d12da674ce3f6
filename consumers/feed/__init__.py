"""CDRs into the input topic: the synthetic switch feed, file replay, the producer. It stands
alone: it imports nothing of reports, alerts or the worker's state.
"""
