"""The bottom layer: paths, errors, assets, registry storage, reporting, statistics and the
named benchmark targets. Imports nothing else of tinyexperts."""
