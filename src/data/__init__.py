"""Labelled text data: finding and reading a dataset, cleaning and encoding its labels,
sampling its splits, and the prepared splits every later stage reads."""
