"""Streaming: segmenting and batching tokens into chunks, and delivering them to connections."""
