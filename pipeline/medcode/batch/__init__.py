"""Batch prediction: reading inputs, engines that score batches, and writers that never destroy a file."""
