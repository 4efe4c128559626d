"""`sheetstream bench`: sheetstream against a naive one-frame-per-token endpoint, side by side."""
