"""Measuring exact answers to data questions."""
